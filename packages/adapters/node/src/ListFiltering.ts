/**
 * The gateway's side of MCP list filtering: which list requests a POST carries (read from its
 * body, bounded), and the target's answer with the refused items removed, as `application/json`
 * or as a Streamable HTTP `text/event-stream` — the answer to a GET included, whose stream may
 * replay earlier list answers after `Last-Event-ID` (filtered by shape, to the stream's end).
 *
 * Adapter over the Fetch API and core's `McpListFilter` / `McpEventStreamFilter`. A small
 * classifier on purpose: it reads the whole body (at most `maxRequestBytes`) and only looks for
 * list requests; the policy's own classifier may replace `classify`. A body it cannot read is
 * refused, never forwarded unfiltered: too long (413), encoded (415), in a `charset` other than
 * UTF-8 (415, `MediaType.charset`: the target could decode other text from the bytes), not JSON
 * or led by a byte order mark (400, JSON-RPC parse error), a batch repeating a request id (400,
 * -32600) — otherwise a caller could pad, encode, re-encode or alias a `tools/list` past the filter.
 *
 * @see [MCP Streamable HTTP](https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#streamable-http)
 * @since 0.1.0
 */
import { McpEventStreamFilter, McpListFilter, MediaType } from "@oidc-proxy/core"
import * as McpGate from "./McpGate.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Limits {
  /** Longest request body read to find list requests. Default 1 MiB. */
  readonly maxRequestBytes?: number | undefined
  /** Longest list response (JSON body or one event) held to filter it. Default 8 MiB. */
  readonly maxResponseBytes?: number | undefined
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaults = { maxRequestBytes: 1024 * 1024, maxResponseBytes: 8 * 1024 * 1024 } as const

/**
 * A classified request: its body (read whole, forwarded as is) and the list requests in it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Classified {
  readonly body: Uint8Array
  readonly pending: McpListFilter.Pending
}

const rpcError = (status: number, code: number, message: string): Response =>
  new Response(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code, message } }), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  })

/** The body, or `undefined` once it passes `max` bytes (the rest is not read). */
const readBounded = async (
  stream: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array | undefined> => {
  if (stream === null) return new Uint8Array(0)
  const chunks: Array<Uint8Array> = []
  let size = 0
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > max) {
      await reader.cancel().catch(() => undefined)
      return undefined
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}

// A leading byte order mark is refused before decoding, as `JsonRpc.parse` refuses it.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * The list requests of a POST to the MCP endpoint, or the refusal to send the caller.
 *
 * @category constructors
 * @since 0.1.0
 */
export const classify = async (request: Request, limits: Limits = {}): Promise<Classified | Response> => {
  const max = limits.maxRequestBytes ?? defaults.maxRequestBytes
  const tooLong = () => rpcError(413, -32600, `The request body exceeds ${max} bytes`)
  const encoding = request.headers.get("content-encoding")
  if (encoding !== null && encoding.trim().toLowerCase() !== "identity")
    return rpcError(415, -32600, "An encoded request body (Content-Encoding) is not accepted")
  const charset = MediaType.charset(request.headers.get("content-type"))
  if (charset._tag === "Charset") return rpcError(415, -32600, McpGate.charsetMessage(charset.charset))
  const declared = request.headers.get("content-length")
  if (declared !== null && Number(declared) > max) return tooLong()
  const body = await readBounded(request.body, max)
  if (body === undefined) return tooLong()
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf)
    return rpcError(400, -32700, "Parse error: the body begins with a byte order mark")
  let message: unknown
  try {
    message = JSON.parse(utf8.decode(body))
  } catch {
    return rpcError(400, -32700, "Parse error")
  }
  if (McpListFilter.repeatsId(message))
    return rpcError(400, -32600, "Invalid request: a request id appears twice")
  return { body, pending: McpListFilter.listRequests(message) }
}

const mediaType = (headers: Headers): string =>
  (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase()

/**
 * The body of the 502 answered for a list answer that cannot be filtered (the fast path's too).
 *
 * @category constructors
 * @since 0.1.0
 */
export const badGatewayBody = (description: string): string =>
  JSON.stringify({ error: "bad_gateway", error_description: description })

/**
 * Why a list answer cannot be filtered: it is still encoded, or longer than the bound.
 *
 * @category constants
 * @since 0.1.0
 */
export const refusals = {
  encoded: "The MCP server's list response is encoded (Content-Encoding): it cannot be filtered",
  tooLong: (max: number) => `The MCP server's list response exceeds ${max} bytes`,
} as const

const badGateway = (description: string): Response =>
  new Response(badGatewayBody(description), {
    status: 502,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  })

/** A coding other than `identity` still applies to the body (one `fetch` did not decode). */
const stillEncoded = (headers: Headers): boolean => {
  const encoding = headers.get("content-encoding")
  return encoding !== null && encoding.trim().toLowerCase() !== "identity"
}

/** An event stream through `McpEventStreamFilter`; an over-long event ends it (after its error events). */
const filterStream = (
  body: ReadableStream<Uint8Array>,
  pending: McpListFilter.Expected,
  allow: McpListFilter.Permission,
  max: number,
): ReadableStream<Uint8Array> => {
  const filter = McpEventStreamFilter.make(pending, allow, max)
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        for (const out of filter.push(chunk)) controller.enqueue(out)
        if (filter.overflowed()) controller.terminate()
      },
      flush: (controller) => {
        for (const out of filter.end()) controller.enqueue(out)
      },
    }),
  )
}

/**
 * The target's `response` to a POST carrying list requests `pending` (none, possibly), filtered by
 * `allow`: those answers by their method, every other result by its shape (the server may send
 * another request's list answer on this stream); `"any"` for the answer to a GET (its event
 * stream may replay earlier list answers: every result by its shape, `McpListFilter.Expected`). Headers (without
 * `content-length`: the length changes) and status are kept; a body that is neither JSON nor an
 * event stream is passed through. A JSON answer past `maxResponseBytes`, or one still encoded
 * (a `Content-Encoding` `fetch` did not decode), is a 502.
 *
 * @category constructors
 * @since 0.1.0
 */
export const filterResponse = async (
  response: Response,
  headers: Headers,
  pending: McpListFilter.Expected,
  allow: McpListFilter.Permission,
  limits: Limits = {},
): Promise<Response> => {
  const max = limits.maxResponseBytes ?? defaults.maxResponseBytes
  const type = mediaType(response.headers)
  const init = { status: response.status, statusText: response.statusText, headers }
  if (response.body === null) return new Response(response.body, init)
  if ((type === "text/event-stream" || type === "application/json") && stillEncoded(headers)) {
    // Not decoded by `fetch` (`identity, gzip`, an unknown coding): passed on, it would reach a
    // caller that decodes it unfiltered.
    await response.body.cancel().catch(() => undefined)
    return badGateway(refusals.encoded)
  }
  headers.delete("content-length")
  if (type === "text/event-stream")
    return new Response(filterStream(response.body, pending, allow, max), init)
  if (type !== "application/json") return new Response(response.body, init)
  const body = await readBounded(response.body, max)
  if (body === undefined) return badGateway(refusals.tooLong(max))
  const text = new TextDecoder().decode(body)
  const filtered = McpListFilter.filterText(text, pending, allow)
  return new Response(filtered === text ? (body as Uint8Array<ArrayBuffer>) : filtered, init)
}

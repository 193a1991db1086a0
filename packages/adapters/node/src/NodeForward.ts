/**
 * The gateway's fast forward: an authorized `node:http` request sent straight to the target with
 * undici (keep-alive pool), both bodies piped, no Web `Request`/`Response` in between.
 *
 * Adapter (Node only, undici). The header rules are `ReverseProxy`'s (`forwardHeaderRecord`,
 * `responseHeaderRecord`), so the target sees exactly what the Fetch path would send; the body is
 * passed through undecoded (`accept-encoding: identity` is asked for, and any `content-encoding`
 * the target still uses is kept), so `content-length` is kept both ways when there is no
 * `transfer-encoding`. Streaming both ways: server-sent events reach the client chunk
 * by chunk; a client that goes away aborts the target request. An unreachable target is the same
 * 502 JSON answer as `ReverseProxy.make`.
 *
 * @see [RFC 9110 §7.6.1 (Connection, hop-by-hop fields)](https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1)
 * @since 0.1.0
 */
import type { IncomingMessage, ServerResponse } from "node:http"
import type { AccessToken } from "@oidc-proxy/core"
import { Agent, type Dispatcher, request } from "undici"
import * as ReverseProxy from "./ReverseProxy.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** URL of the MCP server; the resource path maps onto its path. */
  readonly target: URL
  /** The resource path on the proxy, e.g. `/mcp`. */
  readonly resourcePath: string
  /** Called once per forwarded request with the time to the target's response headers. */
  readonly observe?: ((outcome: { readonly seconds: number; readonly ok: boolean }) => void) | undefined
  /** Default: a keep-alive `Agent` owned by this forwarder (`close` closes it). */
  readonly dispatcher?: Dispatcher | undefined
}

/**
 * The caller's headers as a `HeaderRecord`, read from `rawHeaders` (lower-case names, repeated
 * fields combined with `, ` as `Headers` does, HTTP/2 pseudo-headers skipped).
 *
 * @category constructors
 * @since 0.1.0
 */
export const incomingHeaders = (req: IncomingMessage): Record<string, string> => {
  const out: Record<string, string> = {}
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (name.charCodeAt(0) === 58 /* ":" */) continue
    const value = raw[i + 1]!
    const previous = out[name]
    out[name] = previous === undefined ? value : `${previous}, ${value}`
  }
  return out
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Forwarder {
  /**
   * Forwards `req` (already authorized as `token`, its URL parsed as `url`) and writes the target's
   * answer to `res` with `extraHeaders` added; `onHeaders` is called once with the status sent
   * (502 when the target is unreachable). Never throws.
   */
  readonly forward: (
    req: IncomingMessage,
    res: ServerResponse,
    incoming: Record<string, string>,
    token: AccessToken.AccessToken,
    url: URL,
    extraHeaders: Readonly<Record<string, string>>,
    onHeaders: (status: number) => void,
  ) => void
  readonly close: () => Promise<void>
}

/**
 * A forwarder to `options.target`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Forwarder => {
  const own = options.dispatcher === undefined
  const dispatcher: Dispatcher =
    options.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 })
  const observe = options.observe

  const forward: Forwarder["forward"] = (req, res, incoming, token, url, extraHeaders, onHeaders) => {
    const method = req.method ?? "GET"
    const started = performance.now()
    const abort = new AbortController()
    res.once("close", () => {
      if (!res.writableFinished) abort.abort()
    })
    const withBody = method !== "GET" && method !== "HEAD"
    const headers = ReverseProxy.forwardHeaderRecord(incoming, token)
    // `content-length` is not hop-by-hop: the body is passed through byte for byte, so the caller's
    // length still holds (unless a `transfer-encoding` governs the framing). The target then gets
    // the body with its length instead of chunked framing.
    const length = incoming["content-length"]
    if (
      withBody &&
      length !== undefined &&
      incoming["transfer-encoding"] === undefined &&
      /^\d{1,15}$/.test(length)
    )
      headers["content-length"] = length
    request(ReverseProxy.targetUrl(url, options), {
      method: method as Dispatcher.HttpMethod,
      headers,
      // Streamed, not buffered: a Streamable HTTP request body may be large or long-lived.
      body: withBody ? req : null,
      signal: abort.signal,
      dispatcher,
    }).then(
      (answer) => {
        observe?.({ seconds: (performance.now() - started) / 1000, ok: true })
        const headers = ReverseProxy.responseHeaderRecord(
          answer.headers as ReverseProxy.HeaderRecord,
          false,
        ) as Record<string, string | Array<string>>
        // The body is passed through byte for byte, so its length still holds.
        const length = answer.headers["content-length"]
        if (typeof length === "string" && answer.headers["transfer-encoding"] === undefined)
          headers["content-length"] = length
        Object.assign(headers, extraHeaders)
        res.writeHead(answer.statusCode, headers)
        onHeaders(answer.statusCode)
        // `pipe`, not `pipeline`: the latter builds (and aborts) an `AbortController` per request,
        // a `DOMException` with its stack trace each time (~5 % of the gateway's CPU).
        const body = answer.body
        body.once("error", () => res.destroy())
        res.once("close", () => {
          if (!res.writableFinished) body.destroy()
        })
        body.pipe(res)
      },
      () => {
        observe?.({ seconds: (performance.now() - started) / 1000, ok: false })
        if (res.headersSent) {
          res.destroy()
          return
        }
        res.writeHead(502, {
          "content-type": "application/json",
          "cache-control": "no-store",
          ...extraHeaders,
        })
        res.end(ReverseProxy.badGatewayBody)
        onHeaders(502)
      },
    )
  }
  return { forward, close: () => (own ? dispatcher.close() : Promise.resolve()) }
}

/**
 * The gateway's fast forward: an authorized `node:http` request sent straight to the target with
 * undici's `dispatch` (keep-alive pool), the request body streamed to the target and the answer
 * written to the `ServerResponse` as it arrives — no Web `Request`/`Response`, no `Readable` for the
 * answer, no promise or `AbortController` per request.
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
import { type AccessToken, McpEventStreamFilter, McpListFilter } from "@oidc-proxy/core"
import { type Dispatcher, Pool } from "undici"
import * as ListFiltering from "./ListFiltering.ts"
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
  /** See `ReverseProxy.Options.trustUnverifiedEmail`. */
  readonly trustUnverifiedEmail?: boolean | undefined
  /** Called once per forwarded request with the time to the target's response headers. */
  readonly observe?: ((outcome: { readonly seconds: number; readonly ok: boolean }) => void) | undefined
  /** Called once per forwarded request with the status sent to the caller (502: unreachable). */
  readonly onResponse?: ((status: number, forwarded: Forwarded) => void) | undefined
  /** Called once for each 502 answered (the target unreachable, or the caller gone mid-body), with why. */
  readonly onUnreachable?: ((failure: ReverseProxy.Unreachable) => void) | undefined
  /** Default: a keep-alive `Pool` to the target owned by this forwarder (`close` closes it). */
  readonly dispatcher?: Dispatcher | undefined
}

/**
 * The caller's headers as a `HeaderRecord`, read from `rawHeaders` (lower-case names, repeated
 * fields combined as `Headers` combines them — `, `, and `; ` for `cookie` — HTTP/2 pseudo-headers
 * skipped).
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
    // `typeof`, not `=== undefined`: a field named like an `Object.prototype` member
    // (`constructor`) must not pick up the inherited function as a first value.
    // `cookie` with `; ` as `Headers` does: with `, ` a second `Cookie` field carrying the proxy's own
    // `oidcp_` cookies hid them from `forwardHeaderRecord`'s filter, and they reached the target.
    out[name] = typeof previous === "string" ? `${previous}${name === "cookie" ? "; " : ", "}${value}` : value
  }
  return out
}

/**
 * One forwarded request as `onResponse` sees it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Forwarded {
  readonly requestId: string
  readonly method: string
  /** The caller's path (no query). */
  readonly path: string
  /** `performance.now()` when the request arrived. */
  readonly started: number
}

/**
 * A request body its caller already read (e.g. to decide on it).
 *
 * @category models
 * @since 0.1.0
 */
export interface Read {
  readonly body: Buffer
  /** Called once with the status sent to the caller (502: unreachable). */
  readonly onStatus?: ((status: number) => void) | undefined
  /** The body's list requests, whose answers are filtered (as `ListFiltering.filterResponse`). */
  readonly lists?: Lists | undefined
}

/**
 * List requests in flight and what the caller may see of their answers.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lists {
  readonly pending: McpListFilter.Pending
  readonly allow: McpListFilter.Permission
  /** Longest JSON answer (or one event) held to filter it; past it a JSON answer is a 502. */
  readonly maxResponseBytes: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Forwarder {
  /**
   * Forwards `req` (already authorized as `token`) to `targetPath` (path and query on the target's
   * origin, see `ReverseProxy.targetUrl`) and writes the target's answer to `res` with
   * `x-request-id: requestId` added; `options.onResponse` is called once with the status sent
   * (502 when the target is unreachable). Never throws. `read`: the body, already read whole from
   * `req` (sent as it is), and a callback for this request's status.
   */
  readonly forward: (
    req: IncomingMessage,
    res: ServerResponse,
    incoming: Record<string, string>,
    token: AccessToken.AccessToken,
    targetPath: string,
    requestId: string,
    path: string,
    started: number,
    read?: Read,
  ) => void
  readonly close: () => Promise<void>
}

const badGatewayHeaders = (requestId: string) => ({
  "content-type": "application/json",
  "cache-control": "no-store",
  "x-request-id": requestId,
})

/**
 * One exchange with the target, as an undici dispatch handler writing straight to the
 * `ServerResponse`: headers → `writeHead`, each chunk → `write` (target paused while the client is
 * not draining), end → `end`. No `Readable`, no promise, no `AbortController` per request.
 */
class Exchange implements Dispatcher.DispatchHandler, Forwarded {
  controller: Dispatcher.DispatchController | undefined = undefined
  /** The client went away before the target answered in full. */
  gone = false
  /** Paused until the caller drains. */
  draining = false
  readonly onClose: () => void
  readonly onDrain: () => void
  readonly res: ServerResponse
  readonly requestId: string
  readonly method: string
  readonly path: string
  readonly started: number
  /** `performance.now()` when the request was handed to undici. */
  sent = 0
  readonly shared: Shared
  onStatus: ((status: number) => void) | undefined = undefined
  /** Set when the answer carries list answers to filter. */
  lists: Lists | undefined = undefined
  /** A JSON answer held whole to filter it (its status and headers wait with it). */
  held:
    | { status: number; headers: Record<string, string | Array<string>>; chunks: Array<Buffer>; size: number }
    | undefined = undefined
  /** An event-stream answer filtered event by event. */
  events: McpEventStreamFilter.EventStreamFilter | undefined = undefined
  /** The answer was ended here (an over-long event): the target's remaining bytes are not wanted. */
  finished = false
  /** Why a list answer was refused (aborted): the 502's description, as `ListFiltering`'s. */
  refusal: string | undefined = undefined
  constructor(
    res: ServerResponse,
    requestId: string,
    method: string,
    path: string,
    started: number,
    shared: Shared,
  ) {
    this.res = res
    this.requestId = requestId
    this.method = method
    this.path = path
    this.started = started
    this.shared = shared
    this.onClose = () => {
      if (this.res.writableFinished) return
      this.gone = true
      this.controller?.abort(new Error("client closed the connection"))
    }
    this.onDrain = () => {
      this.draining = false
      this.controller?.resume()
    }
    res.once("close", this.onClose)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller
    if (this.gone) controller.abort(new Error("client closed the connection"))
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | Array<string> | undefined>,
  ): void {
    // Interim answers (100 Continue, 103 Early Hints) are not passed on, as `request` and `fetch`
    // do not pass them on either; the final answer follows.
    if (statusCode < 200) return
    this.shared.observe?.({ seconds: (performance.now() - this.sent) / 1000, ok: true })
    const out = ReverseProxy.responseHeaderRecord(headers as ReverseProxy.HeaderRecord, false) as Record<
      string,
      string | Array<string>
    >
    // The body is passed through byte for byte, so its length still holds.
    const length = headers["content-length"]
    if (typeof length === "string" && headers["transfer-encoding"] === undefined)
      out["content-length"] = length
    out["x-request-id"] = this.requestId
    // One field, joined as the Fetch path's `Headers` joins it: sent as two lines, a client taking
    // the last (`text/plain` then `application/json`) would read as JSON a list answer that was
    // not filtered, since its type is not JSON.
    const type = out["content-type"]
    if (Array.isArray(type)) out["content-type"] = type.join(", ")
    if (this.lists !== undefined && !this.filtering(_controller, headers, out, statusCode)) return
    if (this.held === undefined) this.head(statusCode, out)
  }

  /** The status and headers sent, and counted. */
  head(statusCode: number, out: Record<string, string | Array<string>>): void {
    this.res.writeHead(statusCode, out)
    this.shared.onResponse?.(statusCode, this)
    this.onStatus?.(statusCode)
  }

  /**
   * Sets up the filtering of a list answer: an event stream event by event, JSON held whole, any
   * other type passed. An encoded one cannot be read: the target request is aborted (502), never
   * passed unfiltered. `false`: aborted.
   */
  filtering(
    controller: Dispatcher.DispatchController,
    headers: Record<string, string | Array<string> | undefined>,
    out: Record<string, string | Array<string>>,
    statusCode: number,
  ): boolean {
    const lists = this.lists!
    const type = String(headers["content-type"] ?? "")
      .split(";")[0]!
      .trim()
      .toLowerCase()
    // No body to filter: held, it would be sent with a `content-length` such an answer must not carry.
    if (
      (type !== "text/event-stream" && type !== "application/json") ||
      statusCode === 204 ||
      statusCode === 304
    )
      return true
    const encoding = headers["content-encoding"]
    if (encoding !== undefined && String(encoding).trim().toLowerCase() !== "identity") {
      this.refusal = ListFiltering.refusals.encoded
      controller.abort(new Error(this.refusal))
      return false
    }
    delete out["content-length"]
    if (type === "text/event-stream")
      this.events = McpEventStreamFilter.make(lists.pending, lists.allow, lists.maxResponseBytes)
    else this.held = { status: statusCode, headers: out, chunks: [], size: 0 }
    return true
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.lists === undefined) {
      this.write(controller, chunk)
      return
    }
    if (this.finished) return
    if (this.held !== undefined) {
      this.held.size += chunk.length
      if (this.held.size > this.lists!.maxResponseBytes) {
        this.held = undefined
        this.refusal = ListFiltering.refusals.tooLong(this.lists!.maxResponseBytes)
        controller.abort(new Error(this.refusal))
        return
      }
      this.held.chunks.push(chunk)
      return
    }
    if (this.events !== undefined) {
      for (const out of this.events.push(chunk)) this.write(controller, out)
      // An over-long event: the stream ends after its error events; the rest is not read.
      if (this.events.overflowed()) {
        this.finished = true
        this.res.end()
        controller.abort(new Error("list answer event too long"))
      }
      return
    }
    this.write(controller, chunk)
  }

  /** One chunk to the caller, the target paused while the caller is not draining. */
  write(controller: Dispatcher.DispatchController, chunk: Uint8Array): void {
    if (!this.res.write(chunk) && !this.draining) {
      this.draining = true
      controller.pause()
      this.res.once("drain", this.onDrain)
    }
  }

  onResponseEnd(): void {
    if (this.finished) return
    const held = this.held
    if (held !== undefined) {
      const body = held.chunks.length === 1 ? held.chunks[0]! : Buffer.concat(held.chunks)
      const text = body.toString("utf8")
      const filtered = McpListFilter.filterText(text, this.lists!.pending, this.lists!.allow)
      const out = filtered === text ? body : Buffer.from(filtered)
      held.headers["content-length"] = String(out.length)
      this.head(held.status, held.headers)
      this.res.end(out)
      return
    }
    if (this.events !== undefined) for (const out of this.events.end()) this.res.write(out)
    this.res.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.finished) return
    const res = this.res
    if (res.headersSent) {
      res.destroy()
      return
    }
    // A caller gone before its body ended: the target was never asked, no target latency to count.
    if (this.sent !== 0) this.shared.observe?.({ seconds: (performance.now() - this.sent) / 1000, ok: false })
    res.writeHead(502, badGatewayHeaders(this.requestId))
    res.end(
      this.refusal === undefined ? ReverseProxy.badGatewayBody : ListFiltering.badGatewayBody(this.refusal),
    )
    // A caller gone receives no answer: not the gateway's 5xx, no error line (the access line stays).
    if (!this.gone)
      this.shared.onUnreachable?.({
        requestId: this.requestId,
        method: this.method,
        path: this.path,
        cause: error,
      })
    this.shared.onResponse?.(502, this)
    this.onStatus?.(502)
  }
}

/** Request bodies up to this length (declared by `content-length`) are read whole before sending. */
const bufferedBodyMax = 64 * 1024

interface Shared {
  readonly observe: Options["observe"]
  readonly onResponse: Options["onResponse"]
  readonly onUnreachable: Options["onUnreachable"]
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
    // One origin: its `Pool` directly (an `Agent` would look the origin's pool up per request).
    // No cap on connections, as `fetch`'s global dispatcher on the Fetch path: with a cap, that
    // many long-lived streams (server-sent events) would queue every other caller's request.
    options.dispatcher ?? new Pool(options.target.origin, { keepAliveTimeout: 30_000, pipelining: 1 })
  const origin = options.target.origin
  const shared: Shared = {
    observe: options.observe,
    onResponse: options.onResponse,
    onUnreachable: options.onUnreachable,
  }
  const identity = { trustUnverifiedEmail: options.trustUnverifiedEmail }

  const forward: Forwarder["forward"] = (
    req,
    res,
    incoming,
    token,
    targetPath,
    requestId,
    path,
    started,
    read,
  ) => {
    const method = req.method ?? "GET"
    const withBody = method !== "GET" && method !== "HEAD"
    const headers = ReverseProxy.forwardHeaderRecord(incoming, token, identity)
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
    const exchange = new Exchange(res, requestId, method, path, started, shared)
    if (read !== undefined) {
      exchange.onStatus = read.onStatus
      if (read.lists !== undefined) exchange.lists = read.lists
      headers["content-length"] = String(read.body.length)
      send(exchange, method, headers, targetPath, read.body)
      return
    }
    const size = headers["content-length"] === undefined ? -1 : Number(headers["content-length"])
    if (size < 0 || size > bufferedBodyMax) {
      // Streamed, not buffered: a Streamable HTTP request body may be large or long-lived.
      send(exchange, method, headers, targetPath, withBody ? req : null)
      return
    }
    // A small body of known length (a JSON-RPC message) is read whole first and sent with the
    // headers in one write: cheaper than streaming it (~5 µs a request). A caller that goes away
    // before its body ends gets nothing more and a 502 is logged, as when streaming (the target is
    // not asked at all then); once sent, the response's `close` aborts the target request.
    const chunks: Array<Buffer> = []
    let ended = false
    req.on("data", (chunk: Buffer) => {
      chunks.push(chunk)
    })
    req.on("end", () => {
      ended = true
      send(exchange, method, headers, targetPath, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks))
    })
    req.on("error", (error) => {
      exchange.gone = true
      if (!ended) exchange.onResponseError(undefined as never, error)
    })
  }
  const send = (
    exchange: Exchange,
    method: string,
    headers: Record<string, string>,
    targetPath: string,
    body: IncomingMessage | Buffer | null,
  ) => {
    exchange.sent = performance.now()
    try {
      dispatcher.dispatch(
        { origin, path: targetPath, method: method as Dispatcher.HttpMethod, headers, body },
        exchange,
      )
    } catch (error) {
      // Options undici refuses up front (e.g. a header value it will not send): as unreachable.
      exchange.onResponseError(undefined as never, error as Error)
    }
  }
  return { forward, close: () => (own ? dispatcher.close() : Promise.resolve()) }
}

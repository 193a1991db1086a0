/**
 * Serving a Web `fetch` handler with `node:http`: converts each request to a `Request` (body
 * streamed, not buffered) and writes the `Response` back, streaming (SSE answers included).
 *
 * Adapter (Node only). Each request carries its peer address (`RequestInput.source`) for quotas.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Readable } from "node:stream"
import { RequestInput } from "@oidc-proxy/http"

/**
 * @category models
 * @since 0.1.0
 */
export type FetchHandler = (request: Request) => Promise<Response>

/**
 * A Node request as a Web `Request` below `origin`, its body streamed. `url` overrides the
 * request's path (e.g. Express's `originalUrl`); `body` replaces a body something else already
 * read (e.g. an Express body parser), and then `content-length` is dropped.
 *
 * @category constructors
 * @since 0.1.0
 */
export const toRequest = (
  req: IncomingMessage,
  origin: string,
  options: { readonly url?: string; readonly body?: BodyInit | null } = {},
): Request => {
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!
    // HTTP/2 pseudo-headers are not header fields.
    if (name.startsWith(":")) continue
    headers.append(name, req.rawHeaders[i + 1]!)
  }
  const method = req.method ?? "GET"
  const controller = new AbortController()
  req.on("close", () => {
    if (!req.complete) controller.abort()
  })
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal: controller.signal }
  if (method !== "GET" && method !== "HEAD") {
    if (options.body !== undefined) {
      headers.delete("content-length")
      if (options.body !== null) init.body = options.body
    } else init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>
    if (init.body !== undefined) init.duplex = "half"
  }
  return RequestInput.withSource(
    new Request(new URL(options.url ?? req.url ?? "/", origin), init),
    req.socket.remoteAddress,
  )
}

/**
 * Writes a Web `Response` to a Node response, flushing each chunk as it comes (Streamable HTTP
 * answers may be server-sent events).
 *
 * @category constructors
 * @since 0.1.0
 */
export const writeResponse = async (response: Response, res: ServerResponse): Promise<void> => {
  const headers: Record<string, string | Array<string>> = {}
  response.headers.forEach((value, key) => {
    if (key === "set-cookie") return
    headers[key] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) headers["set-cookie"] = cookies
  res.writeHead(response.status, headers)
  if (response.body === null) {
    res.end()
    return
  }
  const reader = response.body.getReader()
  res.on("close", () => {
    void reader.cancel().catch(() => {})
  })
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    if (!res.write(value)) await new Promise<void>((resolve) => res.once("drain", resolve))
  }
  res.end()
}

/**
 * A `node:http` request listener for a fetch handler. `origin` is used to build absolute request
 * URLs (the proxy's public base URL's origin).
 *
 * @category constructors
 * @since 0.1.0
 */
export const toNodeListener =
  (handler: FetchHandler, origin: string) =>
  (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      try {
        await writeResponse(await handler(toRequest(req, origin)), res)
      } catch {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" })
          res.end('{"error":"server_error","error_description":"An unexpected error occurred"}')
        } else res.destroy()
      }
    })()
  }

/**
 * @category models
 * @since 0.1.0
 */
export interface Listening {
  readonly server: Server
  readonly port: number
  readonly url: string
  /** Closes at once: open connections, in-flight requests included, are cut. */
  readonly close: () => Promise<void>
  /**
   * Closes gracefully: stops accepting, lets in-flight requests finish, and cuts what is still open
   * after `timeoutMillis`.
   */
  readonly shutdown: (timeoutMillis: number) => Promise<void>
}

const shutdownServer = (server: Server, timeoutMillis: number): Promise<void> =>
  new Promise<void>((done) => {
    // Keep-alive connections that finish a response after close() began would otherwise stay
    // open until their idle timeout, so idle ones are swept until the server is closed.
    const sweep = setInterval(() => server.closeIdleConnections(), 100)
    const deadline = setTimeout(() => server.closeAllConnections(), timeoutMillis)
    server.close(() => {
      clearInterval(sweep)
      clearTimeout(deadline)
      done()
    })
    server.closeIdleConnections()
  })

/**
 * Listens on `host:port` (port 0 = any free port).
 *
 * @category constructors
 * @since 0.1.0
 */
export const listen = (
  handler: FetchHandler,
  options: {
    readonly host: string
    readonly port: number
    readonly origin?: (port: number) => string
    /**
     * Sees each request first, as Node objects; `true` = it answers the request itself (e.g. the
     * gateway's fast path), `false` = the fetch handler does.
     */
    readonly intercept?: (req: IncomingMessage, res: ServerResponse) => boolean
  },
): Promise<Listening> =>
  new Promise((resolve, reject) => {
    let origin = ""
    const intercept = options.intercept
    // An intercept that throws before answering leaves the request to the fetch handler (a proper
    // answer, never a crashed process); one that had started answering has its response cut.
    const intercepted = (req: IncomingMessage, res: ServerResponse): boolean => {
      if (intercept === undefined) return false
      try {
        return intercept(req, res)
      } catch {
        if (!res.headersSent) return false
        res.destroy()
        return true
      }
    }
    const server = createServer(
      { requestTimeout: 60_000, headersTimeout: 20_000, maxHeaderSize: 16 * 1024 },
      (req, res) => {
        if (intercepted(req, res)) return
        toNodeListener(handler, origin)(req, res)
      },
    )
    server.once("error", reject)
    server.listen(options.port, options.host, () => {
      const port = (server.address() as AddressInfo).port
      const host = options.host.includes(":") ? `[${options.host}]` : options.host
      origin = options.origin?.(port) ?? `http://${host}:${port}`
      resolve({
        server,
        port,
        url: `http://${host}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          }),
        shutdown: (timeoutMillis) => shutdownServer(server, timeoutMillis),
      })
    })
  })

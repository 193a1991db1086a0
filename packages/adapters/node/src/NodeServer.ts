/**
 * Serving a Web `fetch` handler with `node:http`: converts each request to a `Request` (body
 * streamed, not buffered) and writes the `Response` back, streaming (SSE answers included).
 *
 * Adapter (Node only). Each request carries its source address (`RequestInput.source`) for quotas:
 * the socket peer, or behind a trusted proxy the client address it forwards for (`TrustedProxies`).
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { Readable } from "node:stream"
import { RequestTarget } from "@oidc-proxy/core"
import { RequestInput, TrustedProxies } from "@oidc-proxy/http"

/**
 * @category models
 * @since 0.1.0
 */
export type FetchHandler = (request: Request) => Promise<Response>

/**
 * A Node request as a Web `Request` below `origin`, its body streamed. `url` overrides the
 * request's path (e.g. Express's `originalUrl`); `body` replaces a body something else already
 * read (e.g. an Express body parser), and then `content-length` is dropped. `trustedProxies`: the
 * peers whose `X-Forwarded-For` names the request's source (default: none; the peer is the source).
 *
 * @category constructors
 * @since 0.1.0
 */
export const toRequest = (
  req: IncomingMessage,
  origin: string,
  options: {
    readonly url?: string
    readonly body?: BodyInit | null
    readonly trustedProxies?: TrustedProxies.TrustedProxies
  } = {},
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
  // An origin-form target is appended to the origin, never resolved against it: resolving makes
  // `//host/x` an authority (RFC 9112 §3.2.1).
  const target = options.url ?? req.url ?? "/"
  return RequestInput.withSource(
    new Request(target.startsWith("/") ? `${origin}${target}` : new URL(target, origin), init),
    sourceOf(req, options.trustedProxies),
  )
}

/**
 * Each accepted connection's peer address, read when `listen` accepted it. Read later, from the
 * request, it is gone once the caller has reset the connection (the kernel no longer names the
 * peer), and a request with no source skipped every per-source quota: send, reset, repeat.
 */
const connectionPeers = new WeakMap<Socket, string>()

/**
 * The source of a request on a TCP connection whose peer the kernel no longer names (a server not
 * started by `listen`): no address is spelled so, and all such requests share its one budget.
 */
const resetPeer = "reset-connection"

/** The socket peer, or the client a trusted peer forwards for (`TrustedProxies.clientAddress`). */
const sourceOf = (req: IncomingMessage, trusted: TrustedProxies.TrustedProxies | undefined) => {
  const socket = req.socket
  // A socket with a local address but no peer is TCP, reset; a Unix socket has neither.
  const peer =
    connectionPeers.get(socket) ??
    socket.remoteAddress ??
    (socket.localAddress === undefined ? undefined : resetPeer)
  if (trusted === undefined || trusted.cidrs.length === 0) return peer
  const forwarded = req.headers["x-forwarded-for"]
  return TrustedProxies.clientAddress(
    trusted,
    peer,
    Array.isArray(forwarded) ? forwarded.join(",") : forwarded,
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
 * A defect below the fetch handler (it threw or rejected): what the one log line of its 500 says.
 *
 * @category models
 * @since 0.1.0
 */
export interface Defect {
  readonly method: string
  /** The path without its query. */
  readonly path: string
  readonly error: unknown
}

const serverError = '{"error":"server_error","error_description":"An unexpected error occurred"}'

/**
 * A `node:http` request listener for a fetch handler. `origin` is used to build absolute request
 * URLs (the proxy's public base URL's origin). A handler that throws is a generic 500, reported
 * to `onDefect` (without the request's query, headers or body). `trustedProxies` as `toRequest`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const toNodeListener =
  (
    handler: FetchHandler,
    origin: string,
    onDefect?: (defect: Defect) => void,
    trustedProxies?: TrustedProxies.TrustedProxies,
  ) =>
  (req: IncomingMessage, res: ServerResponse, body?: Uint8Array<ArrayBuffer>): void => {
    void (async () => {
      try {
        await writeResponse(
          await handler(
            toRequest(req, origin, {
              ...(body === undefined ? {} : { body }),
              ...(trustedProxies === undefined ? {} : { trustedProxies }),
            }),
          ),
          res,
        )
      } catch (error) {
        onDefect?.({ method: req.method ?? "", path: pathOf(req.url ?? ""), error })
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json", "cache-control": "no-store" })
          res.end(serverError)
        } else res.destroy()
      }
    })()
  }

const pathOf = (target: string): string => {
  const q = target.indexOf("?")
  return (q < 0 ? target : target.slice(0, q)).slice(0, 200)
}

/** An answer written before any handler runs: the request-target or the method is refused. */
const refuse = (
  res: ServerResponse,
  status: 400 | 405,
  description: string,
  allow?: ReadonlyArray<string>,
): void => {
  const body = JSON.stringify({ error: "invalid_request", error_description: description })
  res.writeHead(status, {
    "content-type": "application/json",
    "cache-control": "no-store",
    ...(allow === undefined ? {} : { allow: allow.join(", ") }),
    // The request's body, if any, is not read: the connection cannot be reused.
    connection: "close",
  })
  res.end(body)
}

/**
 * The edge's rules before any handler: the request-target (`RequestTarget.parse`) and the method.
 * Returns `-1` when it answered the request itself; otherwise `req.url` is the origin-form path
 * (and query) every later step reads, and the result the index of its `?` (or its length).
 */
const admitTarget = (
  req: IncomingMessage,
  res: ServerResponse,
  authorities: ReadonlyArray<string>,
  allow: ((path: string) => ReadonlyArray<string> | undefined) | undefined,
  onRefused: ((method: string, status: number) => void) | undefined,
): number => {
  const raw = req.url ?? ""
  const method = req.method ?? ""
  let q = RequestTarget.originFormQueryIndex(raw)
  if (q < 0) {
    const target = RequestTarget.parse(raw, method, authorities)
    if (target._tag === "Refused") {
      refuse(res, 400, target.description)
      onRefused?.(method, 400)
      return -1
    }
    if (target._tag === "Asterisk") {
      res.writeHead(204, { allow: [...RequestTarget.implementedMethods].join(", ") })
      res.end()
      return -1
    }
    req.url = `${target.path}${target.search}`
    q = target.path.length
  }
  if (!RequestTarget.implementedMethods.has(method)) {
    const path = (req.url ?? "").slice(0, q)
    const allowed = allow?.(path) ?? [...RequestTarget.implementedMethods]
    refuse(res, 405, "the method is not allowed here", allowed)
    onRefused?.(method, 405)
    return -1
  }
  return q
}

/** A 405 written on the socket itself, for requests that never become a Node request object. */
const methodNotAllowed = (socket: Socket): void => {
  const body = '{"error":"invalid_request","error_description":"the method is not allowed here"}'
  socket.end(
    `HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncache-control: no-store\r\nallow: ${[...RequestTarget.implementedMethods].join(", ")}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  )
}

/** `CONNECT` (authority-form, RFC 9112 §3.2.3): no tunnel is ever opened; 405 and the socket is closed. */
const refuseConnect = (_req: IncomingMessage, socket: Socket): void => methodNotAllowed(socket)

/**
 * What the HTTP parser refused: a method it does not know (e.g. `TRACK`) is 405 rather than Node's
 * bare 400; header fields past the size limit are 431 (RFC 6585 §5), as Node answers them itself;
 * anything else malformed is 400.
 */
const onClientError = (error: Error & { code?: string }, socket: Socket): void => {
  if (!socket.writable) socket.destroy()
  else if (error.code === "HPE_INVALID_METHOD") methodNotAllowed(socket)
  else if (error.code === "HPE_HEADER_OVERFLOW")
    socket.end(
      "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
  else socket.end("HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/**
 * Answers a client that half-closes (`shutdown(SHUT_WR)`) after a complete request, then closes;
 * a client whose FIN comes once its answer has started is gone, and the answer is cut.
 *
 * Node's HTTP server treats every FIN as an abort unless `httpAllowHalfOpen` is set (an
 * undocumented field its `socketOnEnd` reads): the request is destroyed and the socket ended with
 * no answer written. Set, Node marks the response in flight as the connection's last and ends the
 * socket once it is written. A FIN and a full close look alike; they differ in when they come: a
 * half-closing client sends its FIN with its request, before any answer, while a client that
 * closes during a streamed answer (an SSE stream it stopped reading) would otherwise hold the
 * target's stream until a write failed — so a FIN after the answer's headers and before its end
 * destroys the socket, which aborts the target request (`writeResponse`, `NodeForward`) — also when
 * requests are pipelined behind that answer (every answer in flight is looked at). A request
 * cut short (its body incomplete at the FIN) is a parse error that destroys the socket, as before.
 */
const allowHalfClose = (server: Server): ((req: IncomingMessage, res: ServerResponse) => void) => {
  ;(server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true
  // Every answer in flight on the socket, not only the last request's: a request pipelined behind
  // a stream would otherwise hide the stream's started answer from the check.
  const answering = new WeakMap<Socket, Set<ServerResponse>>()
  server.on("connection", (socket: Socket) => {
    socket.on("end", () => {
      for (const res of answering.get(socket) ?? [])
        if (res.headersSent && !res.writableEnded) {
          socket.destroy()
          return
        }
    })
  })
  return (req, res) => {
    const socket = req.socket
    const open = answering.get(socket) ?? new Set<ServerResponse>()
    answering.set(socket, open)
    open.add(res)
    res.once("close", () => open.delete(res))
  }
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
     * Sees each request first, as Node objects, once its target is admitted (`req.url` is then an
     * origin-form path, `queryIndex` the index of its `?` or its length); `true` = it answers the
     * request itself (e.g. the gateway's fast path), `false` = the fetch handler does. One that
     * read the body and then leaves the request to the fetch handler calls `handOff` with it.
     */
    readonly intercept?: (
      req: IncomingMessage,
      res: ServerResponse,
      queryIndex: number,
      handOff: (body: Uint8Array<ArrayBuffer>) => void,
    ) => boolean
    /**
     * The methods a path allows (its route's table), named in the `Allow` of a 405 answered
     * before the handler (`TRACE`, and methods a `Request` cannot carry). Default: every
     * implemented method.
     */
    readonly allow?: (path: string) => ReadonlyArray<string> | undefined
    /** A defect below the handler (answered with a generic 500): for its one log line. */
    readonly onDefect?: (defect: Defect) => void
    /** The peers whose `X-Forwarded-For` names a request's source (`toRequest`). */
    readonly trustedProxies?: TrustedProxies.TrustedProxies
    /** A request answered before any handler (bad target 400, refused method 405): for the access log. */
    readonly onRefused?: (method: string, status: number) => void
  },
): Promise<Listening> =>
  new Promise((resolve, reject) => {
    let origin = ""
    // The server's own authorities: its public origin and the address it listens on.
    let authorities: ReadonlyArray<string> = []
    const intercept = options.intercept
    // An intercept that throws before answering leaves the request to the fetch handler (a proper
    // answer, never a crashed process); one that had started answering has its response cut.
    const intercepted = (req: IncomingMessage, res: ServerResponse, q: number): boolean => {
      if (intercept === undefined) return false
      try {
        return intercept(req, res, q, (body) =>
          toNodeListener(handler, origin, options.onDefect, options.trustedProxies)(req, res, body),
        )
      } catch {
        if (!res.headersSent) return false
        res.destroy()
        return true
      }
    }
    const server = createServer(
      { requestTimeout: 60_000, headersTimeout: 20_000, maxHeaderSize: 16 * 1024 },
      (req, res) => {
        track(req, res)
        const q = admitTarget(req, res, authorities, options.allow, options.onRefused)
        if (q < 0 || intercepted(req, res, q)) return
        toNodeListener(handler, origin, options.onDefect, options.trustedProxies)(req, res)
      },
    )
    server.on("connection", (socket: Socket) => {
      const peer = socket.remoteAddress
      // Reset before it was accepted: nothing could be answered, and nothing may go uncounted.
      if (peer === undefined) socket.destroy()
      else connectionPeers.set(socket, peer)
    })
    const track = allowHalfClose(server)
    server.on("connect", refuseConnect)
    server.on("clientError", onClientError)
    server.once("error", reject)
    server.listen(options.port, options.host, () => {
      const port = (server.address() as AddressInfo).port
      const host = options.host.includes(":") ? `[${options.host}]` : options.host
      origin = options.origin?.(port) ?? `http://${host}:${port}`
      authorities = [...new Set([new URL(origin).origin, `http://${host}:${port}`.toLowerCase()])]
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

/**
 * A real HTTP server on 127.0.0.1 (port 0) for the adapter's tests: scripted by a handler,
 * recording every request, stopped when the test's scope closes (or earlier, to simulate an
 * IdP that went down).
 *
 * @since 0.1.0
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface RecordedRequest {
  readonly method: string
  readonly path: string
  /** The query string's parameters. */
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly form: URLSearchParams
}

/**
 * @category models
 * @since 0.1.0
 */
export type Handler = (request: RecordedRequest, response: ServerResponse) => void

/**
 * @category models
 * @since 0.1.0
 */
export interface FakeServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string
  readonly requests: ReadonlyArray<RecordedRequest>
  /** How many requests reached `path`. */
  readonly hits: (path: string) => number
  /** Closes the listener and every open connection (idempotent). */
  readonly stop: Effect.Effect<void>
}

/**
 * Writes a JSON answer.
 *
 * @category constructors
 * @since 0.1.0
 */
export const json = (
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(JSON.stringify(body))
}

/**
 * Starts a server; it stops when the enclosing scope closes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (handler: Handler): Effect.Effect<FakeServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<FakeServer>((resume) => {
      const requests: Array<RecordedRequest> = []
      const server = createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8")
          const recorded: RecordedRequest = {
            method: req.method ?? "GET",
            path: new URL(req.url ?? "/", "http://127.0.0.1").pathname,
            query: new URL(req.url ?? "/", "http://127.0.0.1").searchParams,
            headers: req.headers,
            body,
            form: new URLSearchParams(body),
          }
          requests.push(recorded)
          handler(recorded, res)
        })
      })
      let stopped = false
      const stop = Effect.callback<void>((done) => {
        if (stopped) return done(Effect.void)
        stopped = true
        server.closeAllConnections()
        server.close(() => done(Effect.void))
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(
          Effect.succeed({
            origin: `http://127.0.0.1:${port}`,
            requests,
            hits: (path) => requests.filter((r) => r.path === path).length,
            stop,
          }),
        )
      })
    }),
    (server) => server.stop,
  )

/**
 * Real processes and sockets for the fault scenarios: free ports, bounded polling, a
 * `redis-server` and a PostgreSQL server that can be stopped and restarted on the same port,
 * the `oidc-proxy` binary as a child process, and a per-request round-robin HTTP front (a load
 * balancer stand-in) before several gateways.
 *
 * Test support. Everything binds 127.0.0.1; every start has a matching stop.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer as createHttpServer, request as httpRequest } from "node:http"
import type { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PostgresServer as Postgres } from "@oidc-proxy/store-postgres/testing"
import { RedisServer as Redis } from "@oidc-proxy/store-redis/testing"
import { Polling, Ports, GatewayProcess as Testbed } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe } from "vitest"

/** Free ports, polling and the binary come from the testbed; re-exported for the scenarios. */
export const freePort = Ports.freePort
export const sleep = Polling.sleep
export const waitFor = Polling.waitFor
export type GatewayProcess = Testbed.GatewayProcess
/** Spawns the workspace's binary with exactly `env` (plus PATH) and waits for `/readyz`. */
export const spawnGateway = (url: string, env: Record<string, string>) => Testbed.spawnGateway(url, env)

// --- raw sockets -------------------------------------------------------------------------------

/** An HTTP/1.1 answer read off a raw socket. */
export interface RawAnswer {
  readonly status: number
  /** The JSON body; `{}` when there is none. */
  readonly body: Record<string, unknown>
}

/** The answer on `socket` (sent with `Connection: close`), read once the server ends it. */
export const rawAnswer = (socket: Socket): Promise<RawAnswer> =>
  new Promise<RawAnswer>((done, fail) => {
    const chunks: Array<Buffer> = []
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("error", fail)
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8")
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      const json = text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)
      done({ status, body: json === "" ? {} : (JSON.parse(json) as Record<string, unknown>) })
    })
  })

// --- redis-server -------------------------------------------------------------------------------

/** The shared throwaway redis-server (store-redis's test helper), persistence optional. */
export const redisAvailable = Redis.available
export const describeWithRedis = Redis.describeIfAvailable
export type RedisServer = Redis.RedisServer
export const redisServer = (port: number, dir?: string): RedisServer =>
  Redis.make(port, dir === undefined ? {} : { dir })

// --- PostgreSQL ----------------------------------------------------------------------------------

/** The shared throwaway PostgreSQL server (store-postgres's test helper): its data survives a stop. */
export const describeWithPostgres = Postgres.describeIfAvailable
export type PostgresServer = Postgres.PostgresServer
export const postgresServer = (port: number): PostgresServer => Postgres.make(port)

/**
 * Declares `scenarios` for every store several gateways can share: over a fresh SQLite file
 * (`<title>, SQLite store`), a throwaway redis-server (`<title>, Redis store`) and a throwaway
 * PostgreSQL server (`<title>, Postgres store`), the last two skipped locally without their
 * binaries. `store()` is the `OIDC_PROXY_STORE` value, read once the suite's `beforeAll` has run.
 */
export const onSqliteAndRedis = (
  title: string,
  dirPrefix: string,
  scenarios: (store: () => string) => void,
): void => {
  describe(`${title}, SQLite store`, () => {
    const dir = mkdtempSync(join(tmpdir(), dirPrefix))
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
    scenarios(() => `sqlite:${join(dir, "gw.db")}`)
  })
  describeWithRedis(`${title}, Redis store`, () => {
    let redis: RedisServer
    beforeAll(async () => {
      redis = redisServer(await freePort())
      await redis.start()
    })
    afterAll(async () => {
      await redis?.stop()
    })
    scenarios(() => redis.url)
  })
  describeWithPostgres(`${title}, Postgres store`, () => {
    let postgres: PostgresServer
    beforeAll(async () => {
      postgres = postgresServer(await freePort())
      await postgres.start()
    }, 30_000)
    afterAll(async () => {
      await postgres?.destroy()
    })
    scenarios(() => postgres.url)
  })
}

// --- a load balancer stand-in -------------------------------------------------------------------

export interface Front {
  readonly url: string
  /** Where the next requests go: one backend by index, or alternately to each. */
  route: number | "alternate"
  /** The backend index that served each request, in order, with its method and path. */
  readonly served: Array<{ readonly backend: number; readonly method: string; readonly path: string }>
  readonly close: () => Promise<void>
}

/**
 * An HTTP front on `port` that forwards each request (not each connection: clients keep
 * connections alive) to one of `backends` (host:port), chosen by `route`. Hop-by-hop headers are
 * left to Node; the Host header is kept, as a load balancer would.
 */
export const roundRobinFront = async (port: number, backends: ReadonlyArray<string>): Promise<Front> => {
  let next = 0
  const served: Front["served"] = []
  const front: { route: Front["route"] } = { route: "alternate" }
  const server = createHttpServer((req, res) => {
    const backend = front.route === "alternate" ? next++ % backends.length : front.route
    served.push({ backend, method: req.method ?? "", path: (req.url ?? "").split("?")[0]! })
    const [host, backendPort] = backends[backend]!.split(":")
    const upstream = httpRequest(
      {
        host,
        port: Number(backendPort),
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent: false,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.once("error", () => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    get route() {
      return front.route
    },
    set route(value) {
      front.route = value
    },
    served,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

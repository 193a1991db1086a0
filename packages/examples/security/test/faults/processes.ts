/**
 * Real processes and sockets for the fault scenarios: free ports, bounded polling, a
 * `redis-server` that can be stopped and restarted on the same port (with or without its data),
 * the `oidc-proxy` binary as a child process, and a per-request round-robin HTTP front (a load
 * balancer stand-in) before several gateways.
 *
 * Test support. Everything binds 127.0.0.1; every start has a matching stop.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createServer as createHttpServer, request as httpRequest } from "node:http"
import { type AddressInfo, createServer } from "node:net"
import { join } from "node:path"
import { RedisServer as Redis } from "@oidc-proxy/store-redis/testing"

/** A port that was free a moment ago (the kernel picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Polls `probe` every `intervalMs` until it returns a value other than `undefined`; fails after
 * `timeoutMs` naming `what` and the last value seen.
 */
export const waitFor = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number },
): Promise<A> => {
  const deadline = performance.now() + options.timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (performance.now() > deadline)
      throw new Error(`${what}: not within ${options.timeoutMs} ms (last: ${String(last)})`)
    await sleep(options.intervalMs ?? 100)
  }
}

// --- redis-server -------------------------------------------------------------------------------

/** The shared throwaway redis-server (store-redis's test helper), persistence optional. */
export const redisAvailable = Redis.available
export const describeWithRedis = Redis.describeIfAvailable
export type RedisServer = Redis.RedisServer
export const redisServer = (port: number, dir?: string): RedisServer =>
  Redis.make(port, dir === undefined ? {} : { dir })

// --- the oidc-proxy binary ----------------------------------------------------------------------

const bin = join(import.meta.dirname, "..", "..", "..", "..", "adapters", "node", "bin", "oidc-proxy.mjs")

export interface GatewayProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Everything the process wrote (stdout and stderr). */
  readonly output: () => string
  /** Sends `signal` and resolves once the process has exited. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/** Spawns the binary with exactly `env` (plus PATH) and waits for `/readyz` (at most 20 s). */
export const spawnGateway = async (url: string, env: Record<string, string>): Promise<GatewayProcess> => {
  const child = spawn(process.execPath, [bin], {
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  child.stdout?.on("data", (d) => {
    output += String(d)
  })
  child.stderr?.on("data", (d) => {
    output += String(d)
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  try {
    // A process that exited (e.g. refused its configuration) fails the start at once.
    const ready = await waitFor(
      "the gateway's /readyz",
      async () => {
        if (child.exitCode !== null) return "exited"
        return (await fetch(`${url}/readyz`)).status === 200 ? "ready" : undefined
      },
      { timeoutMs: 20_000 },
    )
    if (ready === "exited") throw new Error(`gateway exited ${child.exitCode}`)
  } catch (error) {
    await stop("SIGKILL")
    throw new Error(`${String(error)}\n${output}`)
  }
  return { url, child, output: () => output, stop }
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

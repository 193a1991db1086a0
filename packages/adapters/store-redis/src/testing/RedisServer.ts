/**
 * A throwaway `redis-server` for tests: on a free 127.0.0.1 port, with or without persistence,
 * stopped after the tests — for this package's tests and for anyone testing against Redis
 * (`@oidc-proxy/store-redis/testing`).
 *
 * Test helper; needs the `redis-server` binary (Debian package `redis-server`) on PATH. In CI
 * (`CI` set) its absence fails the suite; locally the suite is skipped with a visible warning.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { afterAll, beforeAll, describe, it } from "vitest"

/** Whether `redis-server` can be run here. */
export const available = spawnSync("redis-server", ["--version"]).error === undefined

/** A port that was free a moment ago (the kernel picks it; the race until redis binds is harmless). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() =>
        typeof address === "object" && address !== null
          ? resolve(address.port)
          : reject(new Error("no port")),
      )
    })
  })

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Starts the server on `port`, resolving once it accepts connections. */
  readonly start: () => Promise<void>
  /** Stops the server (SIGKILL simulates a crash) and resolves once it has exited. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/**
 * A `redis-server` on `port`. With `dir`, every write is persisted to an append-only file there
 * (`appendfsync always`), so a stop and a restart on the same port keep the data — an outage of
 * the server, not a loss of its data. Without `dir`, nothing is persisted.
 */
export const make = (port: number, options: { readonly dir?: string } = {}): RedisServer => {
  let child: ChildProcess | undefined
  const persistence =
    options.dir === undefined
      ? ["--save", "", "--appendonly", "no", "--dir", tmpdir()]
      : ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", options.dir]
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const args = ["--port", String(port), "--bind", "127.0.0.1", ...persistence]
      const proc = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] })
      child = proc
      let output = ""
      const timer = setTimeout(() => {
        proc.kill("SIGKILL")
        reject(new Error(`redis-server did not start within 5 s:\n${output}`))
      }, 5_000)
      proc.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("Ready to accept connections")) {
          clearTimeout(timer)
          resolve()
        }
      })
      proc.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString()
      })
      proc.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}:\n${output}`))
      })
    })
  const stop = (signal: NodeJS.Signals = "SIGTERM") =>
    new Promise<void>((resolve) => {
      const proc = child
      child = undefined
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return resolve()
      proc.once("exit", () => resolve())
      proc.kill(signal)
    })
  return { port, url: `redis://127.0.0.1:${port}`, start, stop }
}

/**
 * `describe(name)` for tests that need `redis-server`: in CI its absence fails the suite (CI
 * installs it, see .ci/run — a missing binary there is a broken pipeline, not a reason to pass
 * without ever testing Redis); locally the suite is skipped with a visible warning, so
 * contributors without Redis can still run the rest.
 */
export const describeIfAvailable = (name: string, body: () => void): void => {
  if (!available && process.env["CI"]) {
    describe(name, () => {
      it("needs redis-server on PATH", () => {
        throw new Error("redis-server is not on PATH; CI must install it (apt-get install -y redis-server)")
      })
    })
    return
  }
  if (!available)
    console.warn(`[${name}] skipped: redis-server is not on PATH (apt-get install -y redis-server)`)
  describe.skipIf(!available)(name, body)
}

/**
 * `describeIfAvailable` with a fresh redis-server started before its tests and stopped after
 * them. `body` receives a getter: the server exists only once `beforeAll` has run.
 */
export const describeWithRedis = (name: string, body: (server: () => RedisServer) => void): void =>
  describeIfAvailable(name, () => {
    let server: RedisServer | undefined
    beforeAll(async () => {
      server = make(await freePort())
      await server.start()
    })
    afterAll(() => server?.stop())
    body(() => {
      if (server === undefined) throw new Error("redis-server is not started")
      return server
    })
  })

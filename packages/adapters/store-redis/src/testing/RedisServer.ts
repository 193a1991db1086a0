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
import { spawnSync } from "node:child_process"
import { tmpdir } from "node:os"
import { ServerProcess } from "@oidc-proxy/store-testkit/process"

/** Whether `redis-server` can be run here. */
export const available = spawnSync("redis-server", ["--version"]).error === undefined

/** A port that was free a moment ago (the kernel picks it; the race until redis binds is harmless). */
export const freePort: () => Promise<number> = ServerProcess.freePort

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
  const persistence =
    options.dir === undefined
      ? ["--save", "", "--appendonly", "no", "--dir", tmpdir()]
      : ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", options.dir]
  const { start, stop } = ServerProcess.make({
    name: "redis-server",
    spawn: () => ({
      bin: "redis-server",
      args: ["--port", String(port), "--bind", "127.0.0.1", ...persistence],
    }),
    ready: "Ready to accept connections",
    readyTimeoutMs: 5_000,
  })
  return { port, url: `redis://127.0.0.1:${port}`, start, stop }
}

/**
 * `describe(name)` for tests that need `redis-server`: in CI its absence fails the suite (CI
 * installs it, see .ci/run); locally the suite is skipped with a visible warning.
 */
export const describeIfAvailable: (name: string, body: () => void) => void =
  ServerProcess.describeIfAvailable({
    available,
    needs: "needs redis-server on PATH",
    missing: "redis-server is not on PATH; CI must install it (apt-get install -y redis-server)",
    skipped: "redis-server is not on PATH (apt-get install -y redis-server)",
  })

/**
 * `describeIfAvailable` with a fresh redis-server started before its tests and stopped after
 * them. `body` receives a getter: the server exists only once `beforeAll` has run.
 */
export const describeWithRedis: (name: string, body: (server: () => RedisServer) => void) => void =
  ServerProcess.describeWithServer({
    describe: describeIfAvailable,
    what: "redis-server",
    make,
    dispose: (server) => server.stop(),
  })

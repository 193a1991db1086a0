/**
 * A store's server binary as a throwaway child process for tests: a free 127.0.0.1 port, a start
 * that resolves once the server says it is ready (or fails with its output), a stop that resolves
 * once it has exited, and a `describe` that is skipped locally without the binary and fails in CI.
 * The Redis and PostgreSQL test servers (`@oidc-proxy/store-redis/testing`,
 * `@oidc-proxy/store-postgres/testing`) are built on it.
 *
 * Test helper (`@oidc-proxy/store-testkit/process`), for vitest; Node only.
 *
 * @since 0.1.0
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process"
import { type AddressInfo, createServer } from "node:net"
import { afterAll, beforeAll, describe, it } from "vitest"

/**
 * A port that was free a moment ago (the kernel picks it; the race until the server binds is harmless).
 *
 * @since 0.1.0
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

/**
 * How to run one server: the command (made at each start), the line it prints once it accepts
 * connections, and how long that may take.
 *
 * @since 0.1.0
 */
export interface Command {
  /** The name in errors: `redis-server`, `postgres`. */
  readonly name: string
  readonly spawn: () => {
    readonly bin: string
    readonly args: ReadonlyArray<string>
    readonly options?: SpawnOptions
  }
  /** Printed on stdout or stderr once the server accepts connections. */
  readonly ready: string
  readonly readyTimeoutMs: number
  /** The signal a stop with `signal` sends (Postgres's fast shutdown is SIGINT); default as is. */
  readonly signal?: (signal: NodeJS.Signals) => NodeJS.Signals
}

/**
 * @since 0.1.0
 */
export interface ServerProcess {
  /** Starts the server, resolving once it is ready; a server that exits first fails the start with its output. */
  readonly start: () => Promise<void>
  /** Stops the server (default SIGTERM) and resolves once it has exited; a stopped server is left as is. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/**
 * A server process run by `command`, started and stopped as often as a test needs.
 *
 * @since 0.1.0
 */
export const make = (command: Command): ServerProcess => {
  let child: ChildProcess | undefined
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const { bin, args, options = {} } = command.spawn()
      const proc = spawn(bin, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
      child = proc
      let output = ""
      const timer = setTimeout(() => {
        proc.kill("SIGKILL")
        reject(
          new Error(`${command.name} did not start within ${command.readyTimeoutMs / 1000} s:\n${output}`),
        )
      }, command.readyTimeoutMs)
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes(command.ready)) {
          clearTimeout(timer)
          resolve()
        }
      }
      proc.stdout?.on("data", onData)
      proc.stderr?.on("data", onData)
      proc.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`${command.name} exited with ${code}:\n${output}`))
      })
    })
  const stop = (signal: NodeJS.Signals = "SIGTERM") =>
    new Promise<void>((resolve) => {
      const proc = child
      child = undefined
      if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return resolve()
      proc.once("exit", () => resolve())
      proc.kill(command.signal?.(signal) ?? signal)
    })
  return { start, stop }
}

/**
 * What a suite needs that the machine may lack.
 *
 * @since 0.1.0
 */
export interface Requirement {
  readonly available: boolean
  /** The title of the test that fails in CI: `needs redis-server on PATH`. */
  readonly needs: string
  /** The error that test throws: what is missing and how CI installs it. */
  readonly missing: string
  /** The local warning after `skipped: `. */
  readonly skipped: string
}

/**
 * `describe(name)` for tests that need a server binary: in CI its absence fails the suite (a
 * missing binary there is a broken pipeline, not a reason to pass without ever testing the store);
 * locally the suite is skipped with a visible warning, so contributors without it can still run
 * the rest.
 *
 * @since 0.1.0
 */
export const describeIfAvailable =
  (requirement: Requirement) =>
  (name: string, body: () => void): void => {
    if (!requirement.available && process.env["CI"]) {
      describe(name, () => {
        it(requirement.needs, () => {
          throw new Error(requirement.missing)
        })
      })
      return
    }
    if (!requirement.available) console.warn(`[${name}] skipped: ${requirement.skipped}`)
    describe.skipIf(!requirement.available)(name, body)
  }

/**
 * `describeIfAvailable` with a fresh server (`make` on a free port, started within `timeoutMs`)
 * before its tests and disposed of after them. `body` receives a getter: the server exists only
 * once `beforeAll` has run.
 *
 * @since 0.1.0
 */
export const describeWithServer =
  <S extends { readonly start: () => Promise<void> }>(options: {
    readonly describe: (name: string, body: () => void) => void
    readonly what: string
    readonly make: (port: number) => S
    readonly dispose: (server: S) => Promise<void>
    readonly timeoutMs?: number
  }) =>
  (name: string, body: (server: () => S) => void): void =>
    options.describe(name, () => {
      let server: S | undefined
      beforeAll(async () => {
        server = options.make(await freePort())
        await server.start()
      }, options.timeoutMs)
      afterAll(() => (server === undefined ? undefined : options.dispose(server)))
      body(() => {
        if (server === undefined) throw new Error(`${options.what} is not started`)
        return server
      })
    })

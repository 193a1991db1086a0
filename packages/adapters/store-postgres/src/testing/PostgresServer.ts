/**
 * A throwaway PostgreSQL server for tests: a fresh cluster (`initdb`) in a temporary data
 * directory, started on a free 127.0.0.1 port with a password for its user, stopped after the
 * tests and its directory removed — for this package's tests and for anyone testing against
 * Postgres (`@oidc-proxy/store-postgres/testing`).
 *
 * Test helper; needs the server binaries (Debian package `postgresql`: `initdb` and `postgres`,
 * found on PATH or under /usr/lib/postgresql/<version>/bin). In CI (`CI` set) their absence fails
 * the suite; locally the suite is skipped with a visible warning. `initdb` and `postgres` refuse to
 * run as root: run as root (CI), the cluster belongs to the `postgres` system user the Debian
 * package creates, and both binaries run under its uid.
 *
 * @since 0.1.0
 */
import { spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ServerProcess } from "@oidc-proxy/store-testkit/process"

/** The directory holding `initdb` and `postgres`: PATH first, then Debian's newest version. */
const binDir = ((): string | undefined => {
  const onPath = spawnSync("initdb", ["--version"])
  if (onPath.error === undefined && onPath.status === 0) return ""
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin")
})()

const bin = (name: string) => (binDir === "" || binDir === undefined ? name : join(binDir, name))

/** The uid and gid to run the server as: ours, or the `postgres` user's when we are root. */
const runAs = ((): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" })
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" })
  if (uid.status !== 0 || gid.status !== 0) return undefined
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) }
})()

/** Whether a server can be started here. */
export const available = binDir !== undefined && (process.getuid?.() !== 0 || runAs !== undefined)

/** A port that was free a moment ago (the kernel picks it; the race until postgres binds is harmless). */
export const freePort: () => Promise<number> = ServerProcess.freePort

export interface PostgresServer {
  readonly port: number
  /** `postgres://oidc:<password>@127.0.0.1:<port>/postgres`. */
  readonly url: string
  /** The password in `url` (tests check that it is never printed). */
  readonly password: string
  /** Starts the server on `port` (the cluster is created on the first start), once it accepts connections. */
  readonly start: () => Promise<void>
  /**
   * Stops the server and resolves once it has exited; the data stays. The default is a fast
   * shutdown (every connection cut at once); a SIGKILL of the postmaster would leave its backends
   * serving their connections for a moment, so it is no outage.
   */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
  /** Stops the server and removes its data directory. */
  readonly destroy: () => Promise<void>
}

const spawnOptions = () => (runAs === undefined ? {} : { uid: runAs.uid, gid: runAs.gid })

const initCluster = (dir: string, password: string) => {
  const data = join(dir, "data")
  const pwfile = join(dir, "pw")
  writeFileSync(pwfile, password, { mode: 0o600 })
  if (runAs !== undefined) {
    chownSync(dir, runAs.uid, runAs.gid)
    chownSync(pwfile, runAs.uid, runAs.gid)
  }
  // scram for TCP, as a real deployment has: the url carries a password that must work and never show.
  const args = ["-D", data, "-U", "oidc", `--pwfile=${pwfile}`, "--auth-host=scram-sha-256"]
  const init = spawnSync(
    bin("initdb"),
    [...args, "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
    {
      encoding: "utf8",
      ...spawnOptions(),
    },
  )
  rmSync(pwfile, { force: true })
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}):\n${init.stderr}${init.error ?? ""}`)
  return data
}

/**
 * A PostgreSQL server on `port`, its cluster in a new temporary directory. Durability is off
 * (`fsync=off`): a test server, not a database; a stop and a start on the same port keep the data
 * (a SIGKILL too, short of the machine crashing), so a stop is an outage, not a loss.
 */
export const make = (port: number): PostgresServer => {
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-pg-"))
  const password = `pw-${crypto.randomUUID()}`
  let data: string | undefined
  const { start, stop } = ServerProcess.make({
    name: "postgres",
    spawn: () => {
      data ??= initCluster(dir, password)
      const args = ["-D", data, "-p", String(port), "-h", "127.0.0.1", "-k", dir]
      // fsync off, synchronous_commit on: a commit is written to the kernel before it is acknowledged,
      // so a SIGKILL of the server loses nothing (only a machine crash would).
      const settings = ["fsync=off", "full_page_writes=off", "max_connections=200"]
      return {
        bin: bin("postgres"),
        args: [...args, ...settings.flatMap((s) => ["-c", s])],
        options: spawnOptions(),
      }
    },
    ready: "database system is ready to accept connections",
    readyTimeoutMs: 15_000,
    // SIGINT is Postgres's "fast" shutdown: clients are disconnected at once, not waited for.
    signal: (signal) => (signal === "SIGTERM" ? "SIGINT" : signal),
  })
  const destroy = async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  }
  const url = `postgres://oidc:${password}@127.0.0.1:${port}/postgres`
  return { port, url, password, start, stop, destroy }
}

/**
 * `describe(name)` for tests that need PostgreSQL: in CI their absence fails the suite (CI
 * installs it, see .ci/run); locally the suite is skipped with a visible warning.
 */
export const describeIfAvailable: (name: string, body: () => void) => void =
  ServerProcess.describeIfAvailable({
    available,
    needs: "needs the PostgreSQL server binaries",
    missing:
      "initdb/postgres not found (PATH, /usr/lib/postgresql/*/bin), or running as root without a postgres user; CI must install them (apt-get install -y postgresql)",
    skipped: "PostgreSQL server binaries not found (apt-get install -y postgresql)",
  })

/**
 * `describeIfAvailable` with a fresh server started before its tests and destroyed after them.
 * `body` receives a getter: the server exists only once `beforeAll` has run.
 */
export const describeWithPostgres: (name: string, body: (server: () => PostgresServer) => void) => void =
  ServerProcess.describeWithServer({
    describe: describeIfAvailable,
    what: "the PostgreSQL server",
    make,
    dispose: (server) => server.destroy(),
    timeoutMs: 30_000,
  })

/**
 * The embedded persistent `Store`: one SQLite file through `node:sqlite`.
 *
 * Adapter for core's `Store` port; depends on `node:sqlite` (Node ≥ 22.19) and Effect's `Clock`.
 * The file is in WAL mode so readers never wait for the writer. A TTL is honoured on every read
 * (time comes from `Clock`, so `TestClock` drives it) and expired rows are purged by a background
 * fiber, so the file does not grow with dead entries. `take` is one `DELETE … RETURNING` statement
 * and `setIfAbsent` one `INSERT … ON CONFLICT DO UPDATE … WHERE expired`, atomic even across
 * processes sharing the file. Every SQLite failure is a `StoreError` whose
 * description is SQLite's generic error text, never a key or a value. A key or value with a lone
 * UTF-16 surrogate is refused with `StoreError` (UTF-8 would turn it into U+FFFD, making distinct
 * keys one).
 * The file holds subjects, client ids and scopes in clear, so it is created owner-only (0600)
 * before SQLite opens it — SQLite gives its `-wal` and `-shm` files the database file's mode — and
 * an existing file (and its `-wal`/`-shm`) with a looser mode is tightened to 0600 at open.
 *
 * @since 0.1.0
 */
import { chmodSync, closeSync, constants, existsSync, openSync, statSync } from "node:fs"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import { OAuthError, Store } from "@oidc-proxy/core"
import { Clock, Config, Duration, Effect, Layer, Option } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Path of the database file (created if missing), or `":memory:"` for a private in-memory one. */
  readonly filename: string
  /** How often expired rows are deleted. Default 60 seconds. */
  readonly purgeInterval?: Duration.Input
  /**
   * How long a statement waits for another process's write lock before failing with `StoreError`.
   * SQLite waits synchronously, so keep it short. Default 2 seconds.
   */
  readonly busyTimeout?: Duration.Input
}

const table = "oidc_proxy_store"

const schema = `
  CREATE TABLE IF NOT EXISTS ${table} (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL -- milliseconds since the epoch
  );
  CREATE INDEX IF NOT EXISTS ${table}_expires_at ON ${table} (expires_at);
`

/** node:sqlite errors carry SQLite's generic text for the result code in `errstr`. */
const describe = (cause: unknown): string => {
  const errstr = (cause as { errstr?: unknown } | null)?.errstr
  return typeof errstr === "string" ? errstr : "sqlite error"
}

const fail = (operation: OAuthError.StoreError["operation"]) => (cause: unknown) =>
  new OAuthError.StoreError({ operation, description: `store ${operation} failed: ${describe(cause)}` })

interface Statements {
  readonly get: StatementSync
  readonly set: StatementSync
  readonly delete: StatementSync
  readonly take: StatementSync
  readonly setIfAbsent: StatementSync
  readonly purge: StatementSync
}

/** Names SQLite treats as something other than a file path: no file to protect. */
const isFilePath = (filename: string): boolean =>
  filename !== "" && filename !== ":memory:" && !filename.startsWith("file:")

/**
 * Creates the database file owner-only (0600, whatever the umask) if it is missing, and tightens
 * it and its `-wal`/`-shm` to 0600 if they are looser. Answers the files it tightened.
 */
const restrictMode = (filename: string): ReadonlyArray<string> => {
  if (!isFilePath(filename)) return []
  // O_CREAT with mode 0600: the umask can only remove bits from it.
  closeSync(openSync(filename, constants.O_RDWR | constants.O_CREAT, 0o600))
  const tightened: Array<string> = []
  for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
    if (!existsSync(file) || (statSync(file).mode & 0o077) === 0) continue
    chmodSync(file, 0o600)
    tightened.push(file)
  }
  return tightened
}

const open = (options: Options): { readonly db: DatabaseSync; readonly statements: Statements } => {
  const db = new DatabaseSync(options.filename)
  try {
    const busy = Duration.toMillis(Duration.fromInputUnsafe(options.busyTimeout ?? "2 seconds"))
    // auto_vacuum only takes effect on a new file; it lets the purge hand freed pages back to the OS.
    db.exec(`PRAGMA auto_vacuum = INCREMENTAL; PRAGMA busy_timeout = ${Math.max(0, Math.floor(busy))};`)
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
    db.exec(schema)
    const statements: Statements = {
      get: db.prepare(`SELECT value FROM ${table} WHERE key = ? AND expires_at > ?`),
      set: db.prepare(
        `INSERT INTO ${table} (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      ),
      delete: db.prepare(`DELETE FROM ${table} WHERE key = ?`),
      take: db.prepare(`DELETE FROM ${table} WHERE key = ? AND expires_at > ? RETURNING value`),
      // One statement: inserts, or replaces an expired row; a live row is left alone (0 changes).
      setIfAbsent: db.prepare(
        `INSERT INTO ${table} (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE ${table}.expires_at <= ?`,
      ),
      purge: db.prepare(`DELETE FROM ${table} WHERE expires_at <= ?`),
    }
    return { db, statements }
  } catch (cause) {
    db.close()
    throw cause
  }
}

const storedValue = (row: Record<string, unknown> | undefined): Option.Option<string> =>
  typeof row?.["value"] === "string" ? Option.some(row["value"]) : Option.none()

const makeWith = (statements: Statements): Store.StoreShape => ({
  get: (key) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.try({ try: () => storedValue(statements.get.get(key, now)), catch: fail("get") }),
    ),
  set: (key, value, ttl) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.try({
        try: () => void statements.set.run(key, value, now + Store.ttlMillis(ttl)),
        catch: fail("set"),
      }),
    ),
  // node:sqlite answers synchronously: the bearer check reads without a fiber step (a failure
  // throws, and the check asks `get`, which reports it).
  getSync: (key, now) => Option.getOrUndefined(storedValue(statements.get.get(key, now))),
  delete: (key) => Effect.try({ try: () => void statements.delete.run(key), catch: fail("delete") }),
  take: (key) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.try({ try: () => storedValue(statements.take.get(key, now)), catch: fail("take") }),
    ),
  setIfAbsent: (key, value, ttl) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.try({
        try: () =>
          Number(statements.setIfAbsent.run(key, value, now + Store.ttlMillis(ttl), now).changes) > 0,
        catch: fail("setIfAbsent"),
      }),
    ),
})

const purgeExpired = (db: DatabaseSync, statements: Statements): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.try({
      try: () => {
        const { changes } = statements.purge.run(now)
        if (Number(changes) > 0) db.exec("PRAGMA incremental_vacuum")
      },
      catch: describe,
    }),
  ).pipe(
    // A failed purge (the file is locked by another process, say) is retried on the next tick;
    // reads never depend on it because every read checks expires_at itself.
    Effect.catch((reason) => Effect.logWarning(`SqliteStore purge failed: ${reason}`)),
  )

/**
 * Opens (or creates) the database, prepares the statements, and starts the purge fiber; the fiber
 * stops and the database closes when the scope closes. A file that cannot be opened is a defect:
 * it is misconfiguration, not a condition to answer requests with.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options) =>
  Effect.gen(function* () {
    const tightened = yield* Effect.try({
      try: () => restrictMode(options.filename),
      catch: (cause) =>
        new Error(`cannot create the SQLite store ${options.filename} with mode 0600: ${String(cause)}`),
    }).pipe(Effect.orDie)
    for (const file of tightened)
      yield* Effect.logWarning(`SqliteStore: ${file} was readable by others; its mode is now 0600`)
    const { db, statements } = yield* Effect.acquireRelease(
      Effect.try({
        try: () => open(options),
        catch: (cause) => new Error(`cannot open the SQLite store ${options.filename}: ${describe(cause)}`),
      }).pipe(Effect.orDie),
      ({ db }) => Effect.sync(() => db.isOpen && db.close()),
    )
    const interval = options.purgeInterval ?? "60 seconds"
    yield* purgeExpired(db, statements).pipe(Effect.delay(interval), Effect.forever, Effect.forkScoped)
    // node:sqlite binds text as UTF-8, writing a lone surrogate as U+FFFD: such keys would collide.
    return Store.Store.of(Store.refusingIllFormed(makeWith(statements)))
  })

/**
 * The SQLite store as core's `Store`.
 *
 * @example
 * ```ts
 * const StoreLive = SqliteStore.layer({ filename: "/var/lib/oidc-proxy/store.db" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Store.Store> => Layer.effect(Store.Store, make(options))

/**
 * The SQLite store with its options read from `Config`.
 *
 * @example
 * ```ts
 * const StoreLive = SqliteStore.layerConfig({ filename: Config.String("OIDC_PROXY_STORE_FILE") })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (options: Config.Wrap<Options>): Layer.Layer<Store.Store, Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(options), layer))

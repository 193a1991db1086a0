/**
 * The connection pool shared by the Postgres store and its invalidation channel, and how a
 * failure of it is described.
 *
 * Adapter internals over the `postgres` driver (porsager/postgres). The pool is opened when the
 * layer is built and ended with it. Timeouts are short, so that a query during an outage fails
 * within seconds (the HTTP layer answers 503) instead of waiting out the driver's 30 s default;
 * the driver reconnects by itself on the next query (at most 1 s after the server is back), so the
 * store recovers without a restart.
 * Errors are described by their kind only — the driver's class and its code (a SQLSTATE, or a
 * connection code such as `ECONNREFUSED`) — never by their message, which can quote a value, a
 * host or a statement; the URL, which may carry a password, is never part of a description.
 * TLS is decided by `PostgresTls` (the URL's `sslmode`, then `PGSSLMODE`, as libpq does) and always
 * passed to the driver, and the driver's query logging (`PGDEBUG`) is off.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Result, Schema, type Scope } from "effect"
import postgres from "postgres"
import * as PostgresTls from "./PostgresTls.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** `postgres[ql]://[user[:password]@]host[:port]/database[?sslmode=…]`. */
  readonly url: string
  /**
   * Name of the store's table (letters, digits and `_`, at most 40): its migrations table is
   * `<table>_migrations` and its invalidation channel `<table>_invalidate`, so several deployments
   * can share one database. Default `oidc_proxy_store`.
   */
  readonly table?: string
  /** How long a statement may take before failing with `StoreError`. Default 2 seconds. */
  readonly commandTimeout?: Duration.Input
  /** How long a (re)connection may take. Default 2 seconds. */
  readonly connectTimeout?: Duration.Input
  /** Connections in the pool. Default 10. */
  readonly maxConnections?: number
  /**
   * The environment libpq's variables are read from (`PostgresTls`: `PGSSLMODE`, and the TLS
   * variables refused by name). Default `process.env`, which the driver also reads for `PGHOST`,
   * `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` and `PGAPPNAME` when the URL leaves them out.
   */
  readonly environment?: Readonly<Record<string, string | undefined>>
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultTable = "oidc_proxy_store"

/**
 * The pool could not be opened, or the schema could not be migrated, when the layer was built.
 *
 * @category errors
 * @since 0.1.0
 */
export class PostgresStoreError extends Schema.TaggedError<PostgresStoreError>()("PostgresStoreError", {
  description: Schema.String,
}) {
  /** The description: what `oidc-proxy check` and a failed start print. */
  override get message(): string {
    return this.description
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ClientShape {
  readonly sql: postgres.Sql
  readonly options: Options
  /** The validated table name. */
  readonly table: string
  readonly commandTimeoutMillis: number
  readonly connectTimeoutSeconds: number
}

/**
 * @category services
 * @since 0.1.0
 */
export class Client extends Context.Service<Client, ClientShape>()("@oidc-proxy/store-postgres/Client") {}

/**
 * The kind of a driver failure: its class and code (SQLSTATE or connection code), never its message.
 *
 * @category utils
 * @since 0.1.0
 */
export const kindOf = (cause: unknown): string => {
  if (!(cause instanceof Error)) return "postgres error"
  const code = (cause as { readonly code?: unknown }).code
  return typeof code === "string" && /^[A-Z0-9_]{2,40}$/.test(code)
    ? `${cause.constructor.name} ${code}`
    : cause.constructor.name
}

const millis = (input: Duration.Input) =>
  Math.max(1, Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(input))))

const tablePattern = /^[a-z_][a-z0-9_]{0,39}$/

/**
 * Validates the table name (it is spliced into statements as an identifier).
 *
 * @category utils
 * @since 0.1.0
 */
export const tableName = (table: string | undefined): Effect.Effect<string, PostgresStoreError> =>
  tablePattern.test(table ?? defaultTable)
    ? Effect.succeed(table ?? defaultTable)
    : Effect.fail(
        new PostgresStoreError({
          description:
            "the table name must be 1-40 lowercase letters, digits or _, not starting with a digit",
        }),
      )

/**
 * A pool of the driver's; `extra` adds driver options (the listener's single connection).
 *
 * @category constructors
 * @since 0.1.0
 */
export const open = (
  options: Options,
  extra: postgres.Options<Record<string, never>> = {},
): Effect.Effect<postgres.Sql, PostgresStoreError, Scope.Scope> =>
  Effect.flatMap(tlsOf(options), (ssl) => openWith(options, ssl, extra))

const processEnvironment = (): Readonly<Record<string, string | undefined>> =>
  (globalThis as { readonly process?: { readonly env?: Record<string, string | undefined> } }).process?.env ??
  {}

/** The driver's `ssl` option (`PostgresTls.driverSsl`), or the build failure naming each variable. */
const tlsOf = (options: Options) =>
  Result.match(PostgresTls.driverSsl(options.url, options.environment ?? processEnvironment()), {
    onSuccess: (ssl) => Effect.succeed(ssl),
    onFailure: (issues) =>
      Effect.fail(new PostgresStoreError({ description: `Postgres TLS settings: ${issues.join("; ")}` })),
  })

const openWith = (
  options: Options,
  ssl: PostgresTls.DriverSsl,
  extra: postgres.Options<Record<string, never>>,
): Effect.Effect<postgres.Sql, PostgresStoreError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () =>
        postgres(options.url, {
          // Always explicit: otherwise the driver reads its own PGSSL and ignores PGSSLMODE.
          ssl,
          // PGDEBUG would make the driver's errors carry their statement and parameters (keys, values) as enumerable fields.
          debug: false,
          max: options.maxConnections ?? 10,
          connect_timeout: millis(options.connectTimeout ?? "2 seconds") / 1000,
          // `CREATE … IF NOT EXISTS` notices would otherwise go to console.log.
          onnotice: () => {},
          // Keys, values and timestamps are text and timestamptz: no custom type to fetch at connect.
          fetch_types: false,
          // Seconds before reconnecting after a failed connection: the driver's default grows to 20 s,
          // which would keep the store failing that long after the server is back; capped at 1 s.
          backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
          ...extra,
        }),
      catch: (cause) =>
        new PostgresStoreError({ description: `cannot use the Postgres URL: ${kindOf(cause)}` }),
    }),
    (sql) => Effect.promise(() => sql.end({ timeout: 1 })),
  )

/**
 * The pool from `options`, checked with one round trip (the build fails when the server cannot be
 * reached or refuses the credentials).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<ClientShape, PostgresStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const table = yield* tableName(options.table)
    const sql = yield* open(options)
    yield* Effect.tryPromise({
      try: () => sql`SELECT 1`,
      catch: (cause) =>
        new PostgresStoreError({ description: `cannot connect to Postgres: ${kindOf(cause)}` }),
    })
    return {
      sql,
      options,
      table,
      commandTimeoutMillis: millis(options.commandTimeout ?? "2 seconds"),
      connectTimeoutSeconds: millis(options.connectTimeout ?? "2 seconds") / 1000,
    }
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Client, PostgresStoreError> =>
  Layer.effect(Client, make(options))

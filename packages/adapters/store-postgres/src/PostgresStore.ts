/**
 * The shared `Store` for several proxy instances on PostgreSQL, through the `postgres` driver.
 *
 * Adapter for core's `Store` port. One table (`key`, `value`, `expires_at`), created by versioned
 * migrations at start (`PostgresMigrations`). Time is the server's (`clock_timestamp()`), so every
 * instance agrees on expiry whatever its own clock says. Every operation is one statement, atomic
 * by construction: `take` is `DELETE … RETURNING`, `setIfAbsent` is `INSERT … ON CONFLICT DO
 * UPDATE … WHERE expired RETURNING` (a row that expired but was not swept yet counts as absent; a
 * live one is left alone and nothing is returned) — never a read then a write. Reads ignore expired
 * rows; a background fiber deletes them, at most `sweepLimit` rows a statement and
 * `sweepRounds` statements a tick, so a backlog never turns into one long lock-holding delete.
 * Every failure — an outage included — is a `StoreError` (the HTTP layer answers 503
 * `temporarily_unavailable`) described by its kind only, never by a key, a value or the URL;
 * a statement that does not answer within `commandTimeout` fails the same way. The pool reconnects
 * on the next statement, so the store recovers without a restart. `layer` also provides the
 * `CacheInvalidation` channel (`PostgresCacheInvalidation`, LISTEN/NOTIFY).
 *
 * PostgreSQL text cannot hold U+0000: a key or value containing it is refused with `StoreError`
 * (core never writes one: keys are hashes or ids, values JSON or ciphertext). Nor can it hold a
 * lone UTF-16 surrogate — the driver sends UTF-8, where one becomes U+FFFD, so `"k\uD800"` and
 * `"k\uDFFF"` would be one row: such a key or value is refused the same way.
 *
 * @since 0.1.0
 */
import { OAuthError, Store } from "@oidc-proxy/core"
import { Config, type Duration, Effect, Layer, Option, Schedule, type Scope } from "effect"
import type postgres from "postgres"
import * as PostgresCacheInvalidation from "./PostgresCacheInvalidation.ts"
import * as PostgresClient from "./PostgresClient.ts"
import { migrate } from "./PostgresMigrations.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends PostgresClient.Options {
  /** How often expired rows are deleted. Default 60 seconds. */
  readonly sweepInterval?: Duration.Input
  /** At most this many rows are deleted by one sweep statement. Default 5,000. */
  readonly sweepLimit?: number
  /** At most this many sweep statements a tick, while each deletes a full `sweepLimit`. Default 20. */
  readonly sweepRounds?: number
}

type Operation = OAuthError.StoreError["operation"]

const failure = (operation: Operation, reason: string) =>
  new OAuthError.StoreError({ operation, description: `store ${operation} failed: ${reason}` })

// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is the point
const nul = /\u0000/

/**
 * One statement, failing with `StoreError` on a driver error or after the command timeout (the
 * statement is then cancelled on the server, best effort).
 */
const run = <A>(
  client: PostgresClient.ClientShape,
  operation: Operation,
  texts: ReadonlyArray<string>,
  query: () => postgres.PendingQuery<postgres.Row[]>,
  answer: (rows: postgres.RowList<postgres.Row[]>) => A,
): Effect.Effect<A, OAuthError.StoreError> => {
  const refused = texts.some((t) => nul.test(t))
    ? failure(operation, "a key or value holds U+0000, which PostgreSQL text cannot store")
    : Store.illFormed(operation, texts)
  if (refused !== undefined) return Effect.fail(refused)
  return Effect.tryPromise({
    try: (signal) => {
      const pending = query()
      signal.addEventListener("abort", () => void Promise.resolve(pending.cancel()).catch(() => {}), {
        once: true,
      })
      return pending
    },
    catch: (cause) => failure(operation, PostgresClient.kindOf(cause)),
  }).pipe(
    Effect.map(answer),
    Effect.timeoutOrElse({
      duration: client.commandTimeoutMillis,
      orElse: () => Effect.fail(failure(operation, "timed out")),
    }),
  )
}

const storedValue = (rows: postgres.RowList<postgres.Row[]>): Option.Option<string> => {
  const value = rows[0]?.["value"]
  return typeof value === "string" ? Option.some(value) : Option.none()
}

/**
 * The store over a client whose schema is migrated.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeWith = (client: PostgresClient.ClientShape): Store.StoreShape => {
  const { sql } = client
  const t = sql(client.table)
  const expiry = (ttl: Duration.Input) =>
    sql`clock_timestamp() + ${Store.ttlMillis(ttl)}::double precision * interval '1 millisecond'`
  return Store.Store.of({
    get: (key) =>
      run(
        client,
        "get",
        [key],
        () => sql`SELECT value FROM ${t} WHERE key = ${key} AND expires_at > clock_timestamp()`,
        storedValue,
      ),
    set: (key, value, ttl) =>
      run(
        client,
        "set",
        [key, value],
        () => sql`INSERT INTO ${t} (key, value, expires_at) VALUES (${key}, ${value}, ${expiry(ttl)})
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        () => undefined,
      ),
    delete: (key) =>
      run(
        client,
        "delete",
        [key],
        () => sql`DELETE FROM ${t} WHERE key = ${key}`,
        () => undefined,
      ),
    // Deletes the row whatever its expiry (it is dead either way) and answers its value only if live.
    // Concurrent takes queue on the row lock; the ones after the first find no row.
    take: (key) =>
      run(
        client,
        "take",
        [key],
        () =>
          sql`DELETE FROM ${t} WHERE key = ${key} RETURNING value, expires_at > clock_timestamp() AS live`,
        (rows) => (rows[0]?.["live"] === true ? storedValue(rows) : Option.none()),
      ),
    // Inserts, or replaces a row that has expired; a live row is locked, left alone, and no row returns.
    setIfAbsent: (key, value, ttl) =>
      run(
        client,
        "setIfAbsent",
        [key, value],
        () => sql`INSERT INTO ${t} AS s (key, value, expires_at) VALUES (${key}, ${value}, ${expiry(ttl)})
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
          WHERE s.expires_at <= clock_timestamp()
          RETURNING 1 AS written`,
        (rows) => rows.length === 1,
      ),
  })
}

/**
 * Deletes at most `limit` expired rows in one statement; answers how many. Rows another instance's
 * sweep holds are skipped (`SKIP LOCKED`), so concurrent sweeps do not wait on each other.
 *
 * @category constructors
 * @since 0.1.0
 */
export const sweep = (client: PostgresClient.ClientShape, limit: number): Effect.Effect<number, unknown> => {
  const { sql } = client
  const t = sql(client.table)
  return Effect.tryPromise({
    try: () =>
      sql`DELETE FROM ${t} WHERE ctid IN (
            SELECT ctid FROM ${t} WHERE expires_at <= clock_timestamp() LIMIT ${limit} FOR UPDATE SKIP LOCKED
          ) AND expires_at <= clock_timestamp()`,
    catch: PostgresClient.kindOf,
  }).pipe(Effect.map((result) => result.count))
}

/** One tick: sweeps while each statement deletes a full batch, up to `rounds` statements. */
const sweepTick = (
  client: PostgresClient.ClientShape,
  limit: number,
  rounds: number,
): Effect.Effect<void> => {
  const loop = (left: number): Effect.Effect<void, unknown> =>
    left === 0
      ? Effect.void
      : Effect.flatMap(sweep(client, limit), (deleted) => (deleted < limit ? Effect.void : loop(left - 1)))
  return loop(rounds).pipe(
    // Reads never depend on the sweep (each checks expires_at): a failed one waits for the next tick.
    Effect.catch((reason) => Effect.logWarning(`PostgresStore sweep failed: ${String(reason)}`)),
  )
}

/**
 * Migrates the schema and starts the sweep fiber (stopped with the scope); the store over `Client`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Omit<Options, keyof PostgresClient.Options> = {},
): Effect.Effect<Store.StoreShape, PostgresClient.PostgresStoreError, PostgresClient.Client | Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* PostgresClient.Client
    yield* migrate(client.sql, client.table)
    const limit = Math.max(1, Math.floor(options.sweepLimit ?? 5_000))
    const rounds = Math.max(1, Math.floor(options.sweepRounds ?? 20))
    yield* sweepTick(client, limit, rounds).pipe(
      Effect.repeat(Schedule.spaced(options.sweepInterval ?? "60 seconds")),
      Effect.forkScoped,
    )
    return makeWith(client)
  })

/**
 * The Postgres store with its own pool, opened, checked and migrated when the layer is built (the
 * build fails with `PostgresStoreError` when the server is unreachable or refuses), closed with
 * the layer; with it, the `CacheInvalidation` channel `<table>_invalidate` on a connection of its own.
 *
 * @example
 * ```ts
 * const StoreLive = PostgresStore.layer({ url: "postgres://oidc:secret@db:5432/oidc" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Store.Store, PostgresClient.PostgresStoreError> =>
  Layer.merge(Layer.effect(Store.Store, make(options)), PostgresCacheInvalidation.layerClient).pipe(
    Layer.provide(PostgresClient.layer(options)),
  )

/**
 * The Postgres store with its options read from `Config`.
 *
 * @example
 * ```ts
 * const StoreLive = PostgresStore.layerConfig({ url: Config.String("DATABASE_URL") })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: Config.Wrap<Options>,
): Layer.Layer<Store.Store, PostgresClient.PostgresStoreError | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(options), layer))

/**
 * Cross-instance invalidation of the verified-token cache over PostgreSQL `LISTEN/NOTIFY`: every
 * instance that shares a Postgres store hears the others' revocations on `<table>_invalidate`.
 *
 * Adapter for core's `CacheInvalidation` port. Evictions are sent with `pg_notify` on the store's
 * pool (delivered when that statement commits, i.e. at once); they are heard on a dedicated
 * connection of the listener's own. The driver's `listen` helper gives up re-listening when the
 * server is still down at its one retry, so this module keeps the connection itself: a fiber runs
 * `LISTEN`, waits for the connection to close, and runs it again (backoff capped at 1 s) for as
 * long as the layer lives — and each time it is listening again every member's verified-token cache
 * is cleared, since whatever was notified while it was away is lost. A notification that does not
 * decode is logged (without its text) and ignored; a failed `pg_notify` is logged, and the other
 * instances then refuse within their `cache_ttl_seconds`. NOTIFY is per database: deployments in
 * one database with different tables use different channels.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { CacheInvalidation } from "@oidc-proxy/core"
import { Deferred, Effect, Layer, type Scope } from "effect"
import * as PostgresClient from "./PostgresClient.ts"

/**
 * The channel of a store table.
 *
 * @category constructors
 * @since 0.1.0
 */
export const channel = (table: string = PostgresClient.defaultTable): string => `${table}_invalidate`

/** Reconnection delay after `retries` failed attempts: 50 ms doubling, capped at 1 s, with jitter. */
const backoff = (retries: number): number =>
  Math.min(50 * 2 ** retries, 1000) + Math.floor(Math.random() * 100)

/**
 * The invalidation channel over the `Client` in context: the listening connection is opened now
 * (the build fails with `PostgresStoreError` when it cannot `LISTEN`), closed with the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<
  CacheInvalidation.CacheInvalidationShape,
  PostgresClient.PostgresStoreError,
  PostgresClient.Client | Scope.Scope
> = Effect.gen(function* () {
  const client = yield* PostgresClient.Client
  const name = channel(client.table)
  const members = CacheInvalidation.makeMembers(randomUUID)
  const runSync = Effect.runSyncWith(yield* Effect.context<never>())
  let closed = Deferred.makeUnsafe<void>()
  const listener = yield* PostgresClient.open(client.options, {
    max: 1,
    max_lifetime: null,
    onclose: () => void Deferred.doneUnsafe(closed, Effect.void),
    // The driver calls `onnotify` for every notification on this connection (not in its typings).
    ...({
      onnotify: (from: string, payload: string) => {
        if (from === name && !members.deliver(payload))
          runSync(Effect.logWarning("cache invalidation: ignored a message that is not an eviction"))
      },
    } as object),
  })
  const listen = Effect.suspend(() => {
    closed = Deferred.makeUnsafe<void>()
    const waitClosed = closed
    return Effect.tryPromise({
      try: () => listener.unsafe(`LISTEN ${name}`),
      catch: PostgresClient.kindOf,
    }).pipe(
      // Listening (again): whatever was notified before is lost, so nothing cached stays.
      Effect.tap(() => Effect.sync(() => members.reset())),
      Effect.as(waitClosed),
    )
  })
  const first = yield* listen.pipe(
    Effect.mapError(
      (kind) => new PostgresStoreError({ description: `cannot LISTEN for cache invalidation: ${kind}` }),
    ),
  )
  // Waits for the connection to close, then listens again until it succeeds.
  const relisten = (retries: number): Effect.Effect<Deferred.Deferred<void>> =>
    listen.pipe(
      Effect.catch((kind) =>
        Effect.logWarning(`cache invalidation listener: ${kind}`).pipe(
          Effect.andThen(Effect.sleep(backoff(retries))),
          Effect.andThen(relisten(retries + 1)),
        ),
      ),
    )
  let wait = first
  yield* Effect.suspend(() => Deferred.await(wait)).pipe(
    Effect.andThen(relisten(0)),
    Effect.tap((next) =>
      Effect.sync(() => {
        wait = next
      }),
    ),
    Effect.andThen(Effect.logInfo("cache invalidation listener back; verified-token caches cleared")),
    Effect.forever,
    Effect.forkScoped,
  )
  return {
    join: (listen) =>
      Effect.map(members.add(listen), (origin) => ({
        publish: CacheInvalidation.publisher(
          origin,
          (text) =>
            Effect.tryPromise({
              try: () => client.sql`SELECT pg_notify(${name}, ${text})`,
              catch: (cause) => cause,
            }).pipe(
              Effect.timeoutOrElse({
                duration: client.commandTimeoutMillis,
                orElse: () => Effect.fail("timed out"),
              }),
              Effect.asVoid,
            ),
          PostgresClient.kindOf,
        ),
      })),
  }
})

const PostgresStoreError = PostgresClient.PostgresStoreError

/**
 * The invalidation channel over a `Client` provided elsewhere (`PostgresStore.layer` provides one
 * with its store).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerClient: Layer.Layer<never, PostgresClient.PostgresStoreError, PostgresClient.Client> =
  Layer.effect(CacheInvalidation.CacheInvalidation, make)

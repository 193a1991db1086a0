/**
 * The downstream tokens held by one gateway instance: one exchange per upstream session, reused
 * until shortly before it expires, shared by every request of the session that arrives meanwhile.
 *
 * Pure core over Effect's `Clock` (no I/O of its own): the exchange and the keyed hash are passed
 * in. Entries are keyed by a keyed hash of the subject token (the upstream access token), never by
 * the token itself, so a refreshed upstream token gets a fresh exchange and the map holds no
 * upstream token. Failures are not held: the next request asks again. Concurrent requests for
 * one key share one exchange, run in the cache's scope so an interrupted first caller does not
 * fail the others. The oldest entry is dropped when the cache is full.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, type Exit, type Scope } from "effect"
import * as DownstreamToken from "./DownstreamToken.ts"
import type { DownstreamTokenError } from "./OAuthError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** One exchange of `subjectToken` at the IdP, its response already checked. */
  readonly exchange: (
    subjectToken: string,
  ) => Effect.Effect<DownstreamToken.ExchangeResponse, DownstreamTokenError>
  /** The keyed hash an entry is held under (e.g. `StorageKeys.hash`). */
  readonly key: (subjectToken: string) => Effect.Effect<string>
  /** Most entries held at once. Default 10 000. */
  readonly maxEntries?: number | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DownstreamTokenCache {
  /**
   * The downstream token for `subjectToken`: the held one while reusable, else a new exchange
   * (one at a time per key). Fails with the exchange's `DownstreamTokenError`.
   */
  readonly get: (subjectToken: string) => Effect.Effect<string, DownstreamTokenError>
  /** Entries held. */
  readonly size: () => number
}

/**
 * Builds a cache whose exchanges run in the current scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<DownstreamTokenCache, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const maxEntries = options.maxEntries ?? 10_000
    const held = new Map<string, DownstreamToken.Held>()
    const inflight = new Map<string, Deferred.Deferred<DownstreamToken.Held, DownstreamTokenError>>()

    const remember = (key: string, entry: DownstreamToken.Held) => {
      held.delete(key)
      // A result with no lifetime (`renewAt = expiresAt`) serves its own request only.
      if (entry.renewAt < entry.expiresAt) {
        held.set(key, entry)
        // Insertion order: the first key is the oldest.
        while (held.size > maxEntries) held.delete(held.keys().next().value!)
      }
    }

    const exchange = (key: string, subjectToken: string) =>
      options.exchange(subjectToken).pipe(
        Effect.flatMap((response) =>
          Effect.map(Clock.currentTimeMillis, (now) => DownstreamToken.hold(response, now)),
        ),
        Effect.tap((entry) => Effect.sync(() => remember(key, entry))),
      )

    const shared = (key: string, subjectToken: string) => {
      const pending = inflight.get(key)
      if (pending !== undefined) return Deferred.await(pending)
      const deferred = Deferred.makeUnsafe<DownstreamToken.Held, DownstreamTokenError>()
      inflight.set(key, deferred)
      const settle = (exit: Exit.Exit<DownstreamToken.Held, DownstreamTokenError>) =>
        Effect.sync(() => inflight.delete(key)).pipe(Effect.andThen(Deferred.done(deferred, exit)))
      return Effect.forkIn(exchange(key, subjectToken).pipe(Effect.onExit(settle)), scope).pipe(
        Effect.andThen(Deferred.await(deferred)),
      )
    }

    const get = (subjectToken: string) =>
      Effect.gen(function* () {
        const key = yield* options.key(subjectToken)
        const now = yield* Clock.currentTimeMillis
        const entry = held.get(key)
        if (entry !== undefined && DownstreamToken.isReusable(entry, now)) return entry.token
        if (entry !== undefined) held.delete(key)
        return (yield* shared(key, subjectToken)).token
      })

    return { get, size: () => held.size }
  })

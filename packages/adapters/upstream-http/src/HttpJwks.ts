/**
 * The upstream IdP's signing keys fetched over HTTP: core's `Jwks` port with a cache.
 *
 * Adapter over effect's `HttpClient`; time comes from `Clock`, so `TestClock` drives expiry.
 * The set is cached for the response's `Cache-Control: max-age`, clamped to
 * [`cacheMinAge`, `cacheMaxAge`]. `refresh(kid)` (a token named a key we do not hold) refetches at
 * most once per `cooldownDuration`; otherwise it answers with the cached set, so a flood of
 * made-up `kid`s cannot turn the proxy into a load generator against the IdP. When the IdP is
 * unreachable or answers badly, the cached keys keep being served (stale-if-error) and the next
 * attempt waits a cooldown; with nothing cached the call fails with `UpstreamError`. Fetches are
 * serialised: callers that queued behind a fetch share its outcome instead of fetching again.
 * Option names follow jose's `createRemoteJWKSet` (`timeoutDuration`, `cooldownDuration`,
 * `cacheMaxAge`).
 *
 * @see [RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5)
 * @see [RFC 9111 §5.2.2.1](https://www.rfc-editor.org/rfc/rfc9111#section-5.2.2.1)
 * @since 0.1.0
 */
import { Jwks, OAuthError } from "@oidc-proxy/core"
import { Clock, Duration, Effect, Layer, Schema, Semaphore } from "effect"
import { HttpClient } from "effect/http"
import type { JSONWebKeySet } from "jose"
import { type GetFailure, getJson } from "./internal/httpGet.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The JWKS URL, normally discovery's `jwks_uri`. */
  readonly jwksUri: string
  /** Time limit for one fetch. Default 5 seconds. */
  readonly timeoutDuration?: Duration.Input | undefined
  /**
   * Least time between two fetches caused by an unknown `kid`, and the wait before retrying an IdP
   * that failed while cached keys were served. Default 30 seconds.
   */
  readonly cooldownDuration?: Duration.Input | undefined
  /** Longest time a fetched set is used before it is fetched again. Default 10 minutes. */
  readonly cacheMaxAge?: Duration.Input | undefined
  /**
   * Shortest time a fetched set is used, whatever the IdP's `Cache-Control` says (a `max-age=0` or
   * `no-store` would otherwise mean one fetch per request). Default 30 seconds.
   */
  readonly cacheMinAge?: Duration.Input | undefined
}

/**
 * The defaults of `Options`, in milliseconds.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaults = {
  timeoutDuration: 5_000,
  cooldownDuration: 30_000,
  cacheMaxAge: 600_000,
  cacheMinAge: 30_000,
} as const

// A JWK must at least say its key type (RFC 7517 §4.1); other members are kept for jose.
const JwksBody = Schema.Struct({
  keys: Schema.Array(
    Schema.StructWithRest(Schema.Struct({ kty: Schema.String }), [
      Schema.Record(Schema.String, Schema.Unknown),
    ]),
  ),
})
const decodeBody = Schema.decodeUnknownEffect(JwksBody)

/**
 * The lifetime the response asks for, in milliseconds: `max-age`, or 0 for `no-store`/`no-cache`,
 * or `undefined` when it says nothing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const requestedLifetime = (headers: {
  readonly [name: string]: string | undefined
}): number | undefined => {
  const value = headers["cache-control"]
  if (value === undefined) return undefined
  const directives = value
    .toLowerCase()
    .split(",")
    .map((d) => d.trim())
  if (directives.some((d) => d === "no-store" || d === "no-cache")) return 0
  for (const d of directives) {
    const match = /^max-age=(\d+)$/.exec(d)
    if (match?.[1] !== undefined) return Number(match[1]) * 1000
  }
  return undefined
}

const toUpstreamError = (failure: GetFailure) =>
  new OAuthError.UpstreamError({
    reason: failure.reason,
    retryable: failure.retryable,
    description: `JWKS: ${failure.description}`,
  })

interface State {
  keys: JSONWebKeySet | undefined
  /** Epoch ms after which `keys` is fetched again on `current`. */
  expiresAt: number
  /** Epoch ms of the last fetch attempt, successful or not (for the cooldown). */
  lastAttemptAt: number | undefined
  /**
   * Counts finished fetch attempts, so callers that queued behind a fetch can tell it finished
   * while they waited and share its outcome.
   */
  attempts: number
  lastFailure: OAuthError.UpstreamError | undefined
}

/**
 * Builds the port implementation.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Jwks.JwksShape, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const timeout = options.timeoutDuration ?? defaults.timeoutDuration
    const cooldown = Duration.toMillis(options.cooldownDuration ?? defaults.cooldownDuration)
    const maxAge = Duration.toMillis(options.cacheMaxAge ?? defaults.cacheMaxAge)
    const minAge = Math.min(Duration.toMillis(options.cacheMinAge ?? defaults.cacheMinAge), maxAge)
    const lock = yield* Semaphore.make(1)
    // Mutated only while holding `lock` (reads outside it are a fast path and only ever see a
    // complete assignment).
    const state: State = {
      keys: undefined,
      expiresAt: 0,
      lastAttemptAt: undefined,
      attempts: 0,
      lastFailure: undefined,
    }

    const download = getJson(client, options.jwksUri, timeout).pipe(
      Effect.mapError(toUpstreamError),
      Effect.flatMap(({ json, headers }) =>
        decodeBody(json).pipe(
          Effect.mapError(
            () =>
              new OAuthError.UpstreamError({
                reason: "bad_response",
                retryable: false,
                description: `JWKS: ${options.jwksUri} did not answer with a JWK set ({"keys": [...]})`,
              }),
          ),
          // The schema checked every key has a `kty`; jose's JWK type is otherwise open.
          Effect.map((body) => ({ jwks: body as unknown as JSONWebKeySet, headers })),
        ),
      ),
    )

    // Runs with `lock` held.
    const fetchKeys = Effect.gen(function* () {
      state.lastAttemptAt = yield* Clock.currentTimeMillis
      const result = yield* Effect.result(download)
      const now = yield* Clock.currentTimeMillis
      state.attempts += 1
      if (result._tag === "Success") {
        const lifetime = requestedLifetime(result.success.headers) ?? maxAge
        state.keys = result.success.jwks
        state.expiresAt = now + Math.min(Math.max(lifetime, minAge), maxAge)
        state.lastFailure = undefined
        return result.success.jwks
      }
      state.lastFailure = result.failure
      if (state.keys === undefined) return yield* result.failure
      // Stale-if-error: an IdP outage must not log every user out; retry after a cooldown.
      state.expiresAt = now + cooldown
      yield* Effect.logWarning("upstream JWKS unavailable; serving the cached keys").pipe(
        Effect.annotateLogs({ description: result.failure.description }),
      )
      return state.keys
    })

    // The outcome of a fetch that finished while we waited for the lock.
    const shared = Effect.suspend(() =>
      state.keys !== undefined
        ? Effect.succeed(state.keys)
        : Effect.fail(
            state.lastFailure ??
              new OAuthError.UpstreamError({ reason: "unreachable", retryable: true, description: "JWKS" }),
          ),
    )

    const locked = (
      decide: (now: number) => Effect.Effect<JSONWebKeySet, OAuthError.UpstreamError>,
    ): Effect.Effect<JSONWebKeySet, OAuthError.UpstreamError> =>
      Effect.suspend(() => {
        const seen = state.attempts
        return lock.withPermit(
          Effect.suspend(() =>
            state.attempts !== seen ? shared : Effect.flatMap(Clock.currentTimeMillis, decide),
          ),
        )
      })

    const fresh = (now: number) => state.keys !== undefined && now < state.expiresAt
    // Fresh keys are served without the lock; otherwise queue, and check again once it is ours.
    const current = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      fresh(now) && state.keys !== undefined
        ? Effect.succeed(state.keys)
        : locked((later) =>
            fresh(later) && state.keys !== undefined ? Effect.succeed(state.keys) : fetchKeys,
          ),
    )

    const refresh = (kid: string | undefined) =>
      locked((now) => {
        const keys = state.keys
        if (keys === undefined) return fetchKeys
        if (kid !== undefined && keys.keys.some((k) => k.kid === kid)) return Effect.succeed(keys)
        if (state.lastAttemptAt !== undefined && now - state.lastAttemptAt < cooldown) {
          return Effect.succeed(keys)
        }
        return fetchKeys.pipe(Effect.tap(() => Effect.logDebug("upstream JWKS refetched for an unknown kid")))
      })

    // What `current` answers without a fetch (no lock needed: a read sees a complete assignment).
    const currentSync = (now: number) => (fresh(now) ? state.keys : undefined)

    return Jwks.Jwks.of({ current, refresh, currentSync })
  })

/**
 * The `Jwks` port over HTTP; needs an `HttpClient` (e.g. `FetchHttpClient.layer`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Jwks.Jwks, never, HttpClient.HttpClient> =>
  Layer.effect(Jwks.Jwks, make(options))

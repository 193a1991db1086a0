/**
 * `loadAccessToken`: from a bearer string to a verified `AccessToken`, over the ports.
 *
 * Effect over ports (ProxyKeys, TokenStore, UpstreamVerifier, Settings, Clock; UpstreamClient
 * when present). The steps of design §3, each failing with a tagged error that maps to one HTTP
 * answer: the proxy token (signature, algorithm, typ, iss, aud, exp/nbf), its jti mapping, the
 * upstream token set (refreshed upstream on the request path when near expiry), the upstream token
 * picked by the verification mode and verified at the IdP's keys, and finally the pure
 * `resolveAccessToken`. `check` adds the pure `authorize` decision.
 *
 * A verified token is remembered in the `TokenStore`'s `VerifiedTokenCache` (keyed by the exact
 * bearer string, until the earliest of its `exp`, `cache_ttl_seconds` and the upstream token set's
 * refresh time), so a repeated bearer costs a `Map` lookup; `makeCachedCheck` answers such a
 * bearer synchronously, without entering the Effect runtime. Revocation through this instance
 * evicts at once; other instances sharing the store refuse within `cache_ttl_seconds`.
 *
 * When every port can answer in the process (the optional `verifySync`/`getSync` capabilities:
 * `node:crypto` keys, a memory store, a cached JWKS), `check` runs a cold check as plain function
 * calls with one `Clock` read; anything those cannot settle (jose, a refresh, any upstream
 * refusal, a record that does not decode) runs the general Effect path from the start, so the
 * answers are the same (tested in `@oidc-proxy/node`'s `SyncCheck.test.ts`).
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Option } from "effect"
import { type AccessToken, resolveAccessToken } from "./AccessToken.ts"
import * as Authorize from "./Authorize.ts"
import { InvalidToken, type StoreError, type UpstreamError } from "./OAuthError.ts"
import { type ProxyConfig, Settings } from "./ProxyConfig.ts"
import { ProxyKeys, type ProxyKeysShape } from "./ProxyKeys.ts"
import * as Scopes from "./Scopes.ts"
import { TokenStore, type TokenStoreShape } from "./TokenStore.ts"
import * as UpstreamSession from "./UpstreamSession.ts"
import type { UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import {
  UpstreamVerifier,
  type Expectation as UpstreamVerifierExpectation,
  type UpstreamVerifierShape,
} from "./UpstreamVerifier.ts"
import type { VerifiedClaims } from "./VerifiedClaims.ts"

/**
 * The services `loadAccessToken` runs over.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = ProxyKeys | TokenStore | UpstreamVerifier | Settings

const fail = (reason: InvalidToken["reason"], source: InvalidToken["source"], description: string) =>
  new InvalidToken({ reason, source, description })

/**
 * Verifies a bearer token and resolves the identity and scopes behind it.
 *
 * Fails with `InvalidToken` (401 `invalid_token`), `StoreError` or `UpstreamError` (503).
 *
 * @category constructors
 * @since 0.1.0
 */
// Untraced: a span per bearer cost ~5 µs of the cold path (more than the jti read); the HTTP
// edge's request span covers the check.
export const loadAccessToken = Effect.fnUntraced(function* (bearer: string) {
  const settings = yield* Settings
  const keys = yield* ProxyKeys
  const store = yield* TokenStore
  const cache = store.verified
  const started = yield* Clock.currentTimeMillis
  const remembered = cache?.lookup(bearer, started)
  if (remembered !== undefined) return remembered
  const epoch = cache?.epoch() ?? 0

  const claims = yield* keys.verify(bearer)
  const mapping = yield* store.jtiMappings.get(claims.jti)
  if (Option.isNone(mapping) || mapping.value.client_id !== claims.client_id) {
    return yield* fail("unknown_jti", "proxy", "The access token is unknown or was revoked")
  }
  const upstream = yield* store.upstreamTokenSets.get(mapping.value.upstream_token_set_id)
  if (Option.isNone(upstream)) {
    return yield* fail(
      "upstream_missing",
      "upstream",
      "The upstream session behind the access token no longer exists",
    )
  }
  const { set, live } = yield* UpstreamSession.ensureFresh(upstream.value)
  const verified = yield* UpstreamSession.verify(set, { live })
  const accessToken = resolveAccessToken(settings.verification_mode, set, verified, { token: bearer, claims })
  if (cache !== undefined && live) {
    // Never past the token's expiry nor the moment the upstream set must be refreshed.
    const refreshAt = (set.expires_at - settings.upstream.refresh_skew_seconds) * 1000
    cache.remember(
      bearer,
      accessToken,
      { jti: claims.jti, upstreamId: set.id },
      Math.min(claims.exp * 1000, refreshAt),
      yield* Clock.currentTimeMillis,
      epoch,
    )
  }
  return accessToken
}) as (bearer: string) => Effect.Effect<AccessToken, InvalidToken | StoreError | UpstreamError, Requirements>

/**
 * The bearer check over services already resolved: what `check` runs.
 *
 * @category models
 * @since 0.1.0
 */
export type Check = (
  bearer: string | undefined,
  requiredScopes?: Scopes.ScopeSet,
) => Effect.Effect<Authorize.Decision, StoreError | UpstreamError>

/**
 * Builds the whole bearer check (`check`) once over the services in context: settings, keys,
 * store and verifier are read here, not on every check, and a cold check is one straight-line
 * generator (proxy token, jti mapping, upstream token set, upstream verification, cache, decision)
 * instead of nested ones. The same steps and answers as `loadAccessToken` + `check`; an upstream
 * refresh (rare: only near the upstream token set's expiry) goes through `UpstreamSession`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeCheck: Effect.Effect<Check, never, Requirements> = Effect.contextWith(
  (context: Context.Context<Requirements>) => Effect.succeed(checkIn(context)),
)

const checkIn = (context: Context.Context<Requirements>): Check => {
  const settings = Context.get(context, Settings)
  const keys = Context.get(context, ProxyKeys)
  const store = Context.get(context, TokenStore)
  const verifier = Context.get(context, UpstreamVerifier)
  const cache = store.verified
  const base = Scopes.union(settings.required_scopes, [])
  const unauthenticated = Authorize.unauthenticated(base)
  const skew = settings.upstream.refresh_skew_seconds
  const idTokenMode = settings.verification_mode === "id_token"
  const { issuer, client_id, audience } = settings.upstream
  const accessExpectation = audience === undefined ? { issuer } : { issuer, audience }
  const verifySync = verifier.verifySync
  const verifyUpstream = (token: string, expect: UpstreamVerifierExpectation) =>
    verifySync === undefined
      ? verifier.verify(token, expect)
      : Clock.clockWith((clock) => {
          const claims = verifySync(token, expect, clock.currentTimeMillisUnsafe())
          return claims === undefined ? verifier.verify(token, expect) : Effect.succeed(claims)
        })
  const freshen = (set: UpstreamTokenSet) =>
    UpstreamSession.ensureFresh(set).pipe(Effect.provideContext(context))

  const load = Effect.fnUntraced(function* (bearer: string, required: Scopes.ScopeSet) {
    const started = yield* Clock.currentTimeMillis
    const remembered = cache?.lookup(bearer, started)
    const epoch = cache?.epoch() ?? 0
    let accessToken: AccessToken
    if (remembered !== undefined) accessToken = remembered
    else {
      // The ports' synchronous answers where they have one (no fiber step), else their Effects:
      // a store that does I/O still saves the steps around its reads.
      const quick = keys.verifySync?.(bearer, started)
      if (quick instanceof InvalidToken) return Authorize.denyFromError(quick)
      const claims = quick ?? (yield* keys.verify(bearer))
      const mapping = yield* store.jtiMappings.get(claims.jti)
      if (Option.isNone(mapping) || mapping.value.client_id !== claims.client_id) {
        return Authorize.denyFromError(
          fail("unknown_jti", "proxy", "The access token is unknown or was revoked"),
        )
      }
      const upstream = yield* store.upstreamTokenSets.get(mapping.value.upstream_token_set_id)
      if (Option.isNone(upstream)) {
        return Authorize.denyFromError(
          fail(
            "upstream_missing",
            "upstream",
            "The upstream session behind the access token no longer exists",
          ),
        )
      }
      let set = upstream.value
      let live = true
      if (!(set.expires_at - skew > Math.floor(started / 1000))) {
        const fresh = yield* freshen(set)
        set = fresh.set
        live = fresh.live
      }
      let verified: VerifiedClaims
      if (idTokenMode) {
        if (set.id_token === undefined) {
          return Authorize.denyFromError(
            fail("missing_id_token", "upstream", "The upstream token set has no id_token to verify"),
          )
        }
        const exp = live ? UpstreamSession.expOf(set.id_token) : undefined
        verified = yield* verifyUpstream(
          set.id_token,
          exp === undefined
            ? { issuer, audience: client_id }
            : { issuer, audience: client_id, notAfter: exp },
        )
      } else verified = yield* verifyUpstream(set.access_token, accessExpectation)
      accessToken = resolveAccessToken(settings.verification_mode, set, verified, { token: bearer, claims })
      if (cache !== undefined && live) {
        // Never past the token's expiry nor the moment the upstream set must be refreshed.
        const refreshAt = (set.expires_at - skew) * 1000
        cache.remember(
          bearer,
          accessToken,
          { jti: claims.jti, upstreamId: set.id },
          Math.min(claims.exp * 1000, refreshAt),
          yield* Clock.currentTimeMillis,
          epoch,
        )
      }
    }
    return Authorize.authorize(accessToken, {
      requiredScopes: required,
      resource: settings.resource,
      now: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      leeway: settings.clock_tolerance_seconds,
    })
  }) as (
    bearer: string,
    required: Scopes.ScopeSet,
  ) => Effect.Effect<Authorize.Decision, InvalidToken | StoreError | UpstreamError>

  const general = (bearer: string, required: Scopes.ScopeSet) =>
    Effect.catchTag(load(bearer, required), "InvalidToken", (error) =>
      Effect.succeed(Authorize.denyFromError(error)),
    )
  const synchronous = makeSyncLoad(settings, keys, store, verifier)
  const decide = (accessToken: AccessToken, required: Scopes.ScopeSet, now: number) =>
    Authorize.authorize(accessToken, {
      requiredScopes: required,
      resource: settings.resource,
      now: Math.floor(now / 1000),
      leeway: settings.clock_tolerance_seconds,
    })

  return (bearer, requiredScopes) => {
    const required =
      requiredScopes === undefined || requiredScopes.length === 0 ? base : Scopes.union(base, requiredScopes)
    if (bearer === undefined || bearer === "")
      return Effect.succeed(required === base ? unauthenticated : Authorize.unauthenticated(required))
    if (synchronous === undefined) return general(bearer, required)
    // Every port answers in the process: one Clock read, no fiber step per port; whatever the
    // synchronous capabilities cannot settle runs the general path from the start.
    return Clock.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const found = cache?.lookup(bearer, now) ?? synchronous(bearer, now)
      if (found === undefined) return general(bearer, required)
      return Effect.succeed(
        found instanceof InvalidToken ? Authorize.denyFromError(found) : decide(found, required, now),
      )
    })
  }
}

/**
 * The cold check over the ports' synchronous capabilities (`ProxyKeys.verifySync`,
 * `Collection.getSync`, `UpstreamVerifier.verifySync`), when every one is present: an
 * `AccessToken` (remembered in the cache), a refusal decided without the upstream (bad signature,
 * unknown jti, no upstream session, no id_token), or `undefined` — the general path decides (jose,
 * a record that does not decode, an upstream refresh, any upstream refusal). Same steps, same
 * order, same answers as `load`; time is the one `now`.
 */
const makeSyncLoad = (
  settings: ProxyConfig,
  keys: ProxyKeysShape,
  store: TokenStoreShape,
  verifier: UpstreamVerifierShape,
): ((bearer: string, now: number) => AccessToken | InvalidToken | undefined) | undefined => {
  const verifyProxy = keys.verifySync
  const readJti = store.jtiMappings.getSync
  const readUpstream = store.upstreamTokenSets.getSync
  const verifyUpstream = verifier.verifySync
  if (
    verifyProxy === undefined ||
    readJti === undefined ||
    readUpstream === undefined ||
    verifyUpstream === undefined
  )
    return undefined
  const cache = store.verified
  const mode = settings.verification_mode
  const skew = settings.upstream.refresh_skew_seconds
  const { issuer, client_id, audience } = settings.upstream
  const idExpectation = { issuer, audience: client_id }
  const accessExpectation = audience === undefined ? { issuer } : { issuer, audience }
  return (bearer, now) => {
    const claims = verifyProxy(bearer, now)
    if (claims === undefined || claims instanceof InvalidToken) return claims
    const mapping = readJti(claims.jti, now)
    if (mapping === undefined) return undefined
    if (Option.isNone(mapping) || mapping.value.client_id !== claims.client_id)
      return fail("unknown_jti", "proxy", "The access token is unknown or was revoked")
    const upstream = readUpstream(mapping.value.upstream_token_set_id, now)
    if (upstream === undefined) return undefined
    if (Option.isNone(upstream))
      return fail(
        "upstream_missing",
        "upstream",
        "The upstream session behind the access token no longer exists",
      )
    const set = upstream.value
    const refreshAt = set.expires_at - skew
    if (!(refreshAt > Math.floor(now / 1000))) return undefined // a refresh: the general path
    let verified: VerifiedClaims | undefined
    if (mode === "id_token") {
      const idToken = set.id_token
      if (idToken === undefined)
        return fail("missing_id_token", "upstream", "The upstream token set has no id_token to verify")
      // The general path verifies at min(now, exp − 1 s) (`notAfter`: the id_token's own `exp`).
      // An acceptance at `now` whose `exp` is at least a second away is that same verification,
      // without reading `exp` first; otherwise verify as the general path does.
      verified = verifyUpstream(idToken, idExpectation, now)
      const exp = verified?.exp
      if (!(typeof exp === "number" && now <= (exp - 1) * 1000)) {
        const notAfter = UpstreamSession.expOf(idToken)
        verified = verifyUpstream(
          idToken,
          notAfter === undefined ? idExpectation : { issuer, audience: client_id, notAfter },
          now,
        )
      }
    } else verified = verifyUpstream(set.access_token, accessExpectation, now)
    if (verified === undefined) return undefined
    const accessToken = resolveAccessToken(mode, set, verified, { token: bearer, claims })
    // Nothing ran between the reads and here, so the epoch is the current one.
    cache?.remember(
      bearer,
      accessToken,
      { jti: claims.jti, upstreamId: set.id },
      Math.min(claims.exp * 1000, refreshAt * 1000),
      now,
      cache.epoch(),
    )
    return accessToken
  }
}

/**
 * The whole bearer check: no bearer → 401 without `error`; a refused token → 401
 * `invalid_token`; a missing scope → 403 `insufficient_scope`; otherwise allow. Store and upstream
 * failures stay in the error channel (503 at the edge). Callers that check many bearers over the
 * same services can build the check once with `makeCheck`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const check = (
  bearer: string | undefined,
  requiredScopes: Scopes.ScopeSet = [],
): Effect.Effect<Authorize.Decision, StoreError | UpstreamError, Requirements> =>
  Effect.contextWith((context: Context.Context<Requirements>) => checkOf(context)(bearer, requiredScopes))

/** One built check per services context (a runtime's context is the same object on every run). */
const built = new WeakMap<Context.Context<Requirements>, Check>()
const checkOf = (context: Context.Context<Requirements>): Check => {
  let f = built.get(context)
  if (f === undefined) {
    f = checkIn(context)
    built.set(context, f)
  }
  return f
}

/**
 * A synchronous bearer check that answers from the verified-token cache only: the same decision
 * `check` would reach for a remembered token (expiry, resource and scopes re-checked at
 * `nowMillis`), the 401 for a missing bearer, and `undefined` when the token is not remembered —
 * then run `check`. For HTTP edges that want to skip the Effect runtime on the hot path.
 *
 * With `ports` (the proxy keys and the upstream verifier of the same services), a token not
 * remembered is also checked synchronously when every port can answer so (as `check` does, see
 * `makeCheck`); `undefined` then means only "the general path must decide".
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeCachedCheck = (
  settings: ProxyConfig,
  store: TokenStoreShape,
  ports?: { readonly keys: ProxyKeysShape; readonly verifier: UpstreamVerifierShape },
): ((
  bearer: string | undefined,
  nowMillis: number,
  requiredScopes?: Scopes.ScopeSet,
) => Authorize.Decision | undefined) => {
  const cache = store.verified
  const base = Scopes.union(settings.required_scopes, [])
  const unauthenticated = Authorize.unauthenticated(base)
  const synchronous =
    ports === undefined ? undefined : makeSyncLoad(settings, ports.keys, store, ports.verifier)
  return (bearer, nowMillis, requiredScopes) => {
    const required =
      requiredScopes === undefined || requiredScopes.length === 0 ? base : Scopes.union(base, requiredScopes)
    if (bearer === undefined || bearer === "")
      return required === base ? unauthenticated : Authorize.unauthenticated(required)
    const found = cache?.lookup(bearer, nowMillis) ?? synchronous?.(bearer, nowMillis)
    if (found === undefined) return undefined
    if (found instanceof InvalidToken) return Authorize.denyFromError(found)
    return Authorize.authorize(found, {
      requiredScopes: required,
      resource: settings.resource,
      now: Math.floor(nowMillis / 1000),
      leeway: settings.clock_tolerance_seconds,
    })
  }
}

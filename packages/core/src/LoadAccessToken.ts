/**
 * `loadAccessToken`: from a bearer string to a verified `AccessToken`, over the ports.
 *
 * Effect over ports (ProxyKeys, TokenStore, UpstreamVerifier, Settings, Clock). The steps of
 * design §3, each failing with a tagged error that maps to one HTTP answer: the proxy token
 * (signature, algorithm, typ, iss, aud, exp/nbf), its jti mapping, the upstream token set, the
 * upstream token picked by the verification mode and verified at the IdP's keys, and finally the
 * pure `resolveAccessToken`. `check` adds the pure `authorize` decision.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { type AccessToken, resolveAccessToken } from "./AccessToken.ts"
import * as Authorize from "./Authorize.ts"
import { InvalidToken, type StoreError, type UpstreamError } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import { ProxyKeys } from "./ProxyKeys.ts"
import * as Scopes from "./Scopes.ts"
import { TokenStore } from "./TokenStore.ts"
import type { UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import { type Expectation, UpstreamVerifier } from "./UpstreamVerifier.ts"

/**
 * The services `loadAccessToken` runs over.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = ProxyKeys | TokenStore | UpstreamVerifier | Settings

const fail = (reason: InvalidToken["reason"], source: InvalidToken["source"], description: string) =>
  new InvalidToken({ reason, source, description })

/** The upstream token to verify and what it must say, chosen by the verification mode alone. */
const upstreamToken = (
  settings: Settings["Service"],
  upstream: UpstreamTokenSet,
): Effect.Effect<{ readonly token: string; readonly expect: Expectation }, InvalidToken> => {
  if (settings.verification_mode === "id_token") {
    if (upstream.id_token === undefined) {
      return Effect.fail(
        fail("missing_id_token", "upstream", "The upstream token set has no id_token to verify"),
      )
    }
    return Effect.succeed({
      token: upstream.id_token,
      expect: { issuer: settings.upstream.issuer, audience: settings.upstream.client_id },
    })
  }
  const { audience } = settings.upstream
  return Effect.succeed({
    token: upstream.access_token,
    expect: { issuer: settings.upstream.issuer, ...(audience === undefined ? {} : { audience }) },
  })
}

/**
 * Verifies a bearer token and resolves the identity and scopes behind it.
 *
 * Fails with `InvalidToken` (401 `invalid_token`), `StoreError` or `UpstreamError` (503).
 *
 * @category constructors
 * @since 0.1.0
 */
export const loadAccessToken = Effect.fn("loadAccessToken")(function* (bearer: string) {
  const settings = yield* Settings
  const keys = yield* ProxyKeys
  const store = yield* TokenStore
  const verifier = yield* UpstreamVerifier

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
  const { token, expect } = yield* upstreamToken(settings, upstream.value)
  const verified = yield* verifier.verify(token, expect)
  return resolveAccessToken(settings.verification_mode, upstream.value, verified, { token: bearer, claims })
}) as (bearer: string) => Effect.Effect<AccessToken, InvalidToken | StoreError | UpstreamError, Requirements>

/**
 * The whole bearer check: no bearer → 401 without `error`; a refused token → 401
 * `invalid_token`; a missing scope → 403 `insufficient_scope`; otherwise allow. Store and upstream
 * failures stay in the error channel (503 at the edge).
 *
 * @category constructors
 * @since 0.1.0
 */
export const check = (
  bearer: string | undefined,
  requiredScopes: Scopes.ScopeSet = [],
): Effect.Effect<Authorize.Decision, StoreError | UpstreamError, Requirements> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const required = Scopes.union(settings.required_scopes, requiredScopes)
    if (bearer === undefined || bearer === "") return Authorize.unauthenticated(required)
    const loaded = yield* Effect.result(loadAccessToken(bearer))
    if (loaded._tag === "Failure") {
      const error = loaded.failure
      return error._tag === "InvalidToken" ? Authorize.denyFromError(error) : yield* Effect.fail(error)
    }
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    return Authorize.authorize(loaded.success, {
      requiredScopes: required,
      resource: settings.resource,
      now,
      leeway: settings.clock_tolerance_seconds,
    })
  })

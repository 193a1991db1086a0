/**
 * The upstream half of a session: which upstream token the verification mode verifies and what it
 * must say (the id_token rule), verifying it, and keeping the stored upstream token set fresh.
 *
 * Pure rules (`isFresh`, `makeTarget`, `expectation`, `expOf`) used by the bearer pipeline
 * (`LoadAccessToken`) and the callback, and Effects over ports (`verify`: Settings,
 * UpstreamVerifier; `ensureFresh`: Settings, TokenStore, UpstreamClient, Clock).
 *
 * The id_token rule. In id_token mode the id_token proves who signed in; the session lives as long
 * as the upstream token set does. On every request the id_token's signature, `iss` and `aud` are
 * checked, but its `exp` only bounds the session while the upstream access token is also expired
 * and cannot be refreshed: when an upstream refresh returns no new id_token, the session keeps
 * working on the id_token it has (the IdP just re-confirmed the session by refreshing).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { decodeJwt } from "jose"
import { InvalidToken, type StoreError, type UpstreamError } from "./OAuthError.ts"
import { type ProxyConfig, Settings } from "./ProxyConfig.ts"
import { TokenStore } from "./TokenStore.ts"
import { UpstreamClient, type UpstreamTokenResponse } from "./Upstream.ts"
import { fromTokenResponse, type UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import { type Expectation, UpstreamVerifier } from "./UpstreamVerifier.ts"
import type { VerifiedClaims } from "./VerifiedClaims.ts"

const fail = (reason: InvalidToken["reason"], description: string) =>
  new InvalidToken({ reason, source: "upstream", description })

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

/** Node's `Buffer` when there is one: decoding the payload segment alone is ~2 µs cheaper than jose. */
const NodeBuffer = (
  globalThis as {
    readonly Buffer?: { from: (s: string, encoding: "base64url") => { toString: () => string } }
  }
).Buffer

/**
 * The `exp` of a JWT read from its payload segment, unverified (`undefined` when absent or
 * malformed).
 *
 * @category utils
 * @since 0.1.0
 */
export const expOf = (token: string): number | undefined => {
  try {
    let exp: unknown
    if (NodeBuffer !== undefined) {
      const first = token.indexOf(".")
      const second = token.indexOf(".", first + 1)
      if (first < 0 || second < 0 || token.indexOf(".", second + 1) >= 0) return undefined
      const payload: unknown = JSON.parse(
        NodeBuffer.from(token.slice(first + 1, second), "base64url").toString(),
      )
      if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return undefined
      exp = (payload as { exp?: unknown }).exp
    } else exp = decodeJwt(token).exp
    return typeof exp === "number" ? exp : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether the upstream token set is still good for `skew` seconds at `nowSeconds`: otherwise it
 * is refreshed (or, without a refresh token, served while it has not expired).
 *
 * @category utils
 * @since 0.1.0
 */
export const isFresh = (upstream: UpstreamTokenSet, skew: number, nowSeconds: number): boolean =>
  upstream.expires_at - skew > nowSeconds

/**
 * The upstream token the verification mode verifies, and what it must say: the id_token rule
 * and the access-token rule, written once for the session writer (the callback) and the bearer
 * check.
 *
 * @category models
 * @since 0.1.0
 */
export interface Target {
  readonly token: string
  /** `iss`, and `aud` (the client id for an id_token; the configured audience, if any, otherwise). */
  readonly expect: Expectation
  /**
   * Verify as of at most the token's own `exp` (`Expectation.notAfter`): an id_token of a live
   * session (see the module doc). `expectation` reads that `exp`.
   */
  readonly untilOwnExp: boolean
}

/**
 * Builds the target rule over the configuration once (the expectations are shared, not rebuilt per
 * request). The rule refuses (`missing_id_token`) an upstream token set without an id_token in
 * id_token mode.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeTarget = (
  settings: ProxyConfig,
): ((upstream: UpstreamTokenSet, live: boolean) => Target | InvalidToken) => {
  const { client_id, audience } = settings.upstream
  const issuer = settings.upstream.issuer_template ?? settings.upstream.issuer
  if (settings.verification_mode === "id_token") {
    const expect: Expectation = { issuer, audience: client_id }
    return (upstream, live) =>
      upstream.id_token === undefined
        ? fail("missing_id_token", "The upstream token set has no id_token to verify")
        : { token: upstream.id_token, expect, untilOwnExp: live }
  }
  const expect: Expectation = {
    issuer,
    ...(audience === undefined ? {} : { audience }),
    ...(settings.upstream.access_token_client_id ? { clientId: client_id } : {}),
  }
  return (upstream) => ({ token: upstream.access_token, expect, untilOwnExp: false })
}

/**
 * The expectation a target is verified with: `notAfter` is the token's own `exp` when the target
 * is verified until then and the token carries one.
 *
 * @category utils
 * @since 0.1.0
 */
export const expectation = (target: Target): Expectation => {
  const exp = target.untilOwnExp ? expOf(target.token) : undefined
  return exp === undefined ? target.expect : { ...target.expect, notAfter: exp }
}

/**
 * Verifies the upstream token the verification mode picks (`makeTarget`, `expectation`).
 *
 * `live`: the upstream token set is unexpired (or was just refreshed) — in id_token mode an
 * expired id_token is then accepted (see the module doc). Fails with `InvalidToken`
 * (`missing_id_token`, or the verifier's refusal) or `UpstreamError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const verify = (
  upstream: UpstreamTokenSet,
  options: { readonly live: boolean },
): Effect.Effect<VerifiedClaims, InvalidToken | UpstreamError, Settings | UpstreamVerifier> =>
  Effect.gen(function* () {
    const target = makeTarget(yield* Settings)(upstream, options.live)
    if (target instanceof InvalidToken) return yield* target
    return yield* (yield* UpstreamVerifier).verify(target.token, expectation(target))
  })

/**
 * Refreshes the upstream token set when its access token expires within the configured skew and
 * a refresh token exists; stores and returns the new set. Without an `UpstreamClient` (a verifier
 * only deployment) the set is returned as is.
 *
 * @category constructors
 * @since 0.1.0
 */
export const ensureFresh = (
  upstream: UpstreamTokenSet,
): Effect.Effect<
  { readonly set: UpstreamTokenSet; readonly live: boolean },
  InvalidToken | UpstreamError | StoreError,
  Settings | TokenStore
> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const now = yield* nowSeconds
    if (isFresh(upstream, settings.upstream.refresh_skew_seconds, now)) return { set: upstream, live: true }
    const client = yield* Effect.serviceOption(UpstreamClient)
    if (upstream.refresh_token === undefined || Option.isNone(client)) {
      return { set: upstream, live: upstream.expires_at > now }
    }
    const refreshed: Option.Option<UpstreamTokenResponse> = yield* client.value
      .refresh({ refresh_token: upstream.refresh_token })
      .pipe(
        Effect.map(Option.some),
        Effect.catchTag(
          "UpstreamError",
          (error): Effect.Effect<Option.Option<UpstreamTokenResponse>, InvalidToken | UpstreamError> =>
            error.reason === "rejected"
              ? Effect.fail(fail("upstream_verification", "The upstream session ended (refresh was refused)"))
              : upstream.expires_at > now
                ? Effect.succeedNone // still valid for a moment: serve the request, refresh later
                : Effect.fail(error),
        ),
      )
    if (Option.isNone(refreshed)) return { set: upstream, live: true }
    const next = fromTokenResponse(upstream.id, refreshed.value, now, upstream.scope, upstream)
    const store = yield* TokenStore
    yield* store.upstreamTokenSets.set(next.id, next, `${settings.ttl.refresh_token} seconds`)
    return { set: next, live: true }
  })

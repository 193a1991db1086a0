/**
 * The upstream half of a session: verifying the token the mode picks, and keeping the stored
 * upstream token set fresh.
 *
 * Effect over ports (Settings, TokenStore, UpstreamVerifier, UpstreamClient, Clock).
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
import { Settings } from "./ProxyConfig.ts"
import { TokenStore } from "./TokenStore.ts"
import { UpstreamClient, type UpstreamTokenResponse } from "./Upstream.ts"
import { fromTokenResponse, type UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import { UpstreamVerifier } from "./UpstreamVerifier.ts"
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
 * Verifies the upstream token the verification mode picks.
 *
 * `live`: the upstream token set is unexpired (or was just refreshed) — in id_token mode an
 * expired id_token is then accepted (see the module doc).
 *
 * @category constructors
 * @since 0.1.0
 */
export const verify = (
  upstream: UpstreamTokenSet,
  options: { readonly live: boolean },
): Effect.Effect<VerifiedClaims, InvalidToken | UpstreamError, Settings | UpstreamVerifier> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const verifier = yield* UpstreamVerifier
    if (settings.verification_mode === "id_token") {
      if (upstream.id_token === undefined) {
        return yield* fail("missing_id_token", "The upstream token set has no id_token to verify")
      }
      const exp = options.live ? expOf(upstream.id_token) : undefined
      return yield* verifier.verify(upstream.id_token, {
        issuer: settings.upstream.issuer,
        audience: settings.upstream.client_id,
        ...(exp === undefined ? {} : { notAfter: exp }),
      })
    }
    const { audience } = settings.upstream
    return yield* verifier.verify(upstream.access_token, {
      issuer: settings.upstream.issuer,
      ...(audience === undefined ? {} : { audience }),
    })
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
    if (upstream.expires_at - settings.upstream.refresh_skew_seconds > now)
      return { set: upstream, live: true }
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

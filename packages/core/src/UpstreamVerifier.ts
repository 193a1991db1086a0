/**
 * Verification of upstream tokens (id_token or JWT access token) against the IdP's JWKS.
 *
 * Port with a JWT/JWKS implementation. Checks the algorithm allow-list (asymmetric only by
 * default), the signature, `iss`, `aud` and `exp`/`nbf` with the configured leeway at the
 * `Clock`'s time. An unknown `kid` asks the `Jwks` port to refresh once, then fails.
 * Introspection and userinfo strategies (opaque upstream tokens) implement the same port.
 *
 * @see [OpenID Connect Core §3.1.3.7](https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation)
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Schema } from "effect"
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from "jose"
import { fromJoseError } from "./internal/joseErrors.ts"
import { Jwks } from "./Jwks.ts"
import { InvalidToken, type UpstreamError } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import { VerifiedClaims } from "./VerifiedClaims.ts"

/**
 * What a verified upstream token must say.
 *
 * @category models
 * @since 0.1.0
 */
export interface Expectation {
  readonly issuer: string
  /** Required audience; when absent `aud` is not checked. */
  readonly audience?: string
  /**
   * Verify as if the time were at most this (seconds): lets a live session keep an id_token whose
   * `exp` has passed (see `UpstreamSession`). Signature, `iss` and `aud` are checked regardless.
   */
  readonly notAfter?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface UpstreamVerifierShape {
  readonly verify: (
    token: string,
    expect: Expectation,
  ) => Effect.Effect<VerifiedClaims, InvalidToken | UpstreamError>
}

/**
 * @category services
 * @since 0.1.0
 */
export class UpstreamVerifier extends Context.Service<UpstreamVerifier, UpstreamVerifierShape>()(
  "@oidc-proxy/core/UpstreamVerifier",
) {}

const decodeClaims = Schema.decodeUnknownOption(VerifiedClaims)

const kidOf = (token: string): string | undefined => {
  try {
    const kid = decodeProtectedHeader(token).kid
    return typeof kid === "string" ? kid : undefined
  } catch {
    return undefined
  }
}

/**
 * A JWT verifier over the `Jwks` port.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeJwt = Effect.gen(function* () {
  const jwks = yield* Jwks
  const settings = yield* Settings
  // createLocalJWKSet imports keys lazily and caches them per set; keep one per fetched set.
  const sets = new WeakMap<JSONWebKeySet, ReturnType<typeof createLocalJWKSet>>()
  const local = (set: JSONWebKeySet) => {
    let s = sets.get(set)
    if (s === undefined) {
      s = createLocalJWKSet(set)
      sets.set(set, s)
    }
    return s
  }
  const attempt = (token: string, set: JSONWebKeySet, expect: Expectation, now: number) =>
    Effect.tryPromise({
      try: () =>
        jwtVerify(token, local(set), {
          algorithms: [...settings.upstream.algorithms],
          issuer: expect.issuer,
          ...(expect.audience === undefined ? {} : { audience: expect.audience }),
          clockTolerance: settings.clock_tolerance_seconds,
          currentDate: new Date(now),
        }),
      catch: (error) => fromJoseError("upstream", error),
    })
  return UpstreamVerifier.of({
    verify: (token, expect) =>
      Effect.gen(function* () {
        const clock = yield* Clock.currentTimeMillis
        const now = expect.notAfter === undefined ? clock : Math.min(clock, (expect.notAfter - 1) * 1000)
        const first = yield* jwks.current
        const { payload } = yield* attempt(token, first, expect, now).pipe(
          Effect.catchIf(
            (e) => e.reason === "unknown_kid",
            () => Effect.flatMap(jwks.refresh(kidOf(token)), (set) => attempt(token, set, expect, now)),
          ),
        )
        const claims = decodeClaims(payload)
        if (claims._tag === "None") {
          return yield* new InvalidToken({
            source: "upstream",
            reason: "claims",
            description: "The upstream token has claims of an unexpected shape",
          })
        }
        return claims.value
      }),
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layerJwt = Layer.effect(UpstreamVerifier, makeJwt)

/**
 * Verification of upstream tokens (id_token or JWT access token) against the IdP's JWKS.
 *
 * Port with a JWT/JWKS implementation. Checks the algorithm allow-list (asymmetric only by
 * default), the signature, `iss`, `aud` and `exp`/`nbf` with the configured leeway at the
 * `Clock`'s time. An unknown `kid` asks the `Jwks` port to refresh once, then fails.
 * Introspection and userinfo strategies (opaque upstream tokens) implement the same port
 * (`NetworkVerifier`, over an adapter's HTTP call). An
 * issuer that is a template (`TenantIssuer`: Entra's `{tenantid}`) is resolved per token from its
 * `tid` before anything else; a token without a GUID `tid` is refused (`issuer`).
 *
 * `makeJwtWith` adds a synchronous path over key operations a runtime provides (`node:crypto` on
 * Node): tokens in a plain shape verify in one step; everything else, refusals included, is decided
 * by jose, so verdicts are jose's. The first token accepted on that path with a given key is also
 * verified by jose, and a key jose disagrees on is left to jose for good. Both verifiers remember
 * successful verifications by token string (at most `cache_ttl_seconds`, `exp`/`nbf` re-checked on
 * every hit, `cache_max_entries` entries), so N proxy tokens over one upstream session verify the
 * upstream JWT once: a JWKS key withdrawn at the IdP stops verifying within `cache_ttl_seconds`.
 *
 * @see [OpenID Connect Core §3.1.3.7](https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation)
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
} from "jose"
import * as CompactJws from "./internal/compactJws.ts"
import { fromJoseError } from "./internal/joseErrors.ts"
import { Jwks } from "./Jwks.ts"
import { InvalidToken, type UpstreamError } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import * as TenantIssuer from "./TenantIssuer.ts"
import { isDecoded, VerifiedClaims } from "./VerifiedClaims.ts"

/**
 * What a verified upstream token must say.
 *
 * @category models
 * @since 0.1.0
 */
export interface Expectation {
  /** The exact `iss`, or a template with `{tenantid}` filled from the token's `tid` (`TenantIssuer`). */
  readonly issuer: string
  /** Required audience; when absent `aud` is not checked. */
  readonly audience?: string
  /**
   * Required `client_id` claim (access tokens that carry the client in `client_id` rather than in
   * `aud`, as Cognito's do); when absent it is not checked.
   */
  readonly clientId?: string
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
  /**
   * Optional: an acceptance `verify` would give at `nowMillis` (epoch ms), answered synchronously,
   * or `undefined` when `verify` must decide (refusals always, key fetches, first use of a key).
   * It must agree with `verify`.
   */
  readonly verifySync?: (token: string, expect: Expectation, nowMillis: number) => VerifiedClaims | undefined
  /**
   * Optional: until when (epoch ms) claims this verifier returned may be relied on without asking
   * it again — a network strategy's cache entry. The bearer cache never remembers a token longer.
   */
  readonly validUntil?: (claims: VerifiedClaims) => number | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class UpstreamVerifier extends Context.Service<UpstreamVerifier, UpstreamVerifierShape>()(
  "@oidc-proxy/core/UpstreamVerifier",
) {}

const decodeWithSchema = Schema.decodeUnknownOption(VerifiedClaims)
/** A payload already in decoded form is used as is (`VerifiedClaims.isDecoded`); others are decoded. */
const decodeClaims = (payload: unknown): Option.Option<VerifiedClaims> =>
  isDecoded(payload) ? Option.some(payload) : decodeWithSchema(payload)

const kidOf = (token: string): string | undefined => {
  try {
    const kid = decodeProtectedHeader(token).kid
    return typeof kid === "string" ? kid : undefined
  } catch {
    return undefined
  }
}

/**
 * Synchronous key operations a runtime provides for upstream JWTs (see `makeJwtWith`).
 *
 * @category models
 * @since 0.1.0
 */
export type JwsKeys = CompactJws.JwsKeys

/**
 * The algorithms the synchronous path handles (others are verified by jose).
 *
 * @category models
 * @since 0.1.0
 */
export type JwsAlgorithm = CompactJws.SupportedAlgorithm

/**
 * @category models
 * @since 0.1.0
 */
export interface JwtOptions {
  /** Remember successful verifications by token string (default: true). */
  readonly resultCache?: boolean
}

interface Remembered {
  readonly expect: Expectation
  readonly claims: VerifiedClaims
  readonly payload: Record<string, unknown>
  readonly until: number
}

/**
 * The expectation with a templated issuer resolved from the token's (not yet verified) `tid`;
 * `undefined` when it cannot be. Sound because the signature is then checked against the resolved
 * issuer: a forged `tid` changes the payload the signature covers.
 */
const concrete = (token: string, expect: Expectation): Expectation | undefined => {
  if (!expect.issuer.includes(TenantIssuer.placeholder)) return expect
  let claims: { readonly tid?: unknown }
  try {
    claims = decodeJwt(token)
  } catch {
    return undefined
  }
  const issuer = TenantIssuer.resolve(expect.issuer, claims)
  return issuer === undefined ? undefined : { ...expect, issuer }
}

const sameExpectation = (a: Expectation, b: Expectation) =>
  a.issuer === b.issuer && a.audience === b.audience && a.notAfter === b.notAfter && a.clientId === b.clientId

const clientIdMatches = (payload: Record<string, unknown>, expect: Expectation) =>
  expect.clientId === undefined || payload["client_id"] === expect.clientId

/**
 * A JWT verifier over the `Jwks` port, with an optional synchronous path over `keys`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeJwtWith = (keys: JwsKeys | undefined, options: JwtOptions = {}) =>
  Effect.gen(function* () {
    const jwks = yield* Jwks
    const settings = yield* Settings
    const tolerance = settings.clock_tolerance_seconds
    const algorithms = [...settings.upstream.algorithms]
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
            algorithms,
            issuer: expect.issuer,
            ...(expect.audience === undefined ? {} : { audience: expect.audience }),
            clockTolerance: tolerance,
            currentDate: new Date(now),
          }),
        catch: (error) => fromJoseError("upstream", error),
      }).pipe(Effect.map((verified) => verified.payload as Record<string, unknown>))
    const withJose = (token: string, set: JSONWebKeySet, expect: Expectation, now: number) =>
      attempt(token, set, expect, now).pipe(
        Effect.catchIf(
          (e) => e.reason === "unknown_kid",
          () => Effect.flatMap(jwks.refresh(kidOf(token)), (next) => attempt(token, next, expect, now)),
        ),
      )
    // Keys on which jose confirmed a synchronous acceptance, and keys it did not.
    const confirmed = new WeakSet<JWK>()
    // The synchronous strict-accept check over the runtime's keys, at `now` (milliseconds).
    const compact = (jwsKeys: JwsKeys, token: string, set: JSONWebKeySet, expect: Expectation, now: number) =>
      CompactJws.verify(
        token,
        set,
        jwsKeys,
        { issuer: expect.issuer, audience: expect.audience, algorithms, tolerance },
        Math.floor(now / 1000),
      )
    const joseOnly = new WeakSet<JWK>()
    const payloadOf = (token: string, set: JSONWebKeySet, expect: Expectation, now: number) => {
      if (keys === undefined) return withJose(token, set, expect, now)
      const outcome = compact(keys, token, set, expect, now)
      if (outcome._tag === "defer" || joseOnly.has(outcome.jwk)) return withJose(token, set, expect, now)
      if (confirmed.has(outcome.jwk)) return Effect.succeed(outcome.payload)
      const jwk = outcome.jwk
      return withJose(token, set, expect, now).pipe(
        Effect.tap(() => Effect.sync(() => confirmed.add(jwk))),
        Effect.tapError(() => Effect.sync(() => joseOnly.add(jwk))),
      )
    }
    const cacheOn = options.resultCache !== false && settings.cache_ttl_seconds > 0
    const ttl = settings.cache_ttl_seconds * 1000
    const maxEntries = settings.cache_max_entries
    const remembered = new Map<string, Remembered>()
    const recall = (token: string, expect: Expectation, clock: number, now: number) => {
      const entry = remembered.get(token)
      if (entry === undefined) return undefined
      if (entry.until <= clock) {
        remembered.delete(token)
        return undefined
      }
      return sameExpectation(entry.expect, expect) &&
        CompactJws.timely(entry.payload, tolerance, Math.floor(now / 1000))
        ? entry.claims
        : undefined
    }
    const remember = (
      token: string,
      expect: Expectation,
      entry: Omit<Remembered, "expect" | "until">,
      clock: number,
    ) => {
      if (!cacheOn || maxEntries <= 0) return
      remembered.delete(token)
      while (remembered.size >= maxEntries) {
        const oldest = remembered.keys().next()
        if (oldest.done === true) break
        remembered.delete(oldest.value)
      }
      remembered.set(token, { ...entry, expect, until: clock + ttl })
    }
    const currentSync = jwks.currentSync
    // Only acceptances: from the result cache, or the synchronous path on a key jose confirmed.
    const verifySync =
      currentSync === undefined
        ? undefined
        : (token: string, template: Expectation, clock: number): VerifiedClaims | undefined => {
            const expect = concrete(token, template)
            if (expect === undefined) return undefined
            const now = expect.notAfter === undefined ? clock : Math.min(clock, (expect.notAfter - 1) * 1000)
            const known = cacheOn ? recall(token, expect, clock, now) : undefined
            if (known !== undefined || keys === undefined) return known
            const set = currentSync(clock)
            if (set === undefined) return undefined
            const outcome = compact(keys, token, set, expect, now)
            if (outcome._tag === "defer" || !confirmed.has(outcome.jwk) || joseOnly.has(outcome.jwk))
              return undefined
            const claims = decodeClaims(outcome.payload)
            if (claims._tag === "None" || !clientIdMatches(outcome.payload, expect)) return undefined
            remember(token, expect, { claims: claims.value, payload: outcome.payload }, clock)
            return claims.value
          }
    return UpstreamVerifier.of({
      ...(verifySync === undefined ? {} : { verifySync }),
      verify: (token, template) =>
        Effect.gen(function* () {
          const expect = concrete(token, template)
          if (expect === undefined) {
            return yield* new InvalidToken({
              source: "upstream",
              reason: "issuer",
              description: "The upstream token has no tenant id to check its issuer against",
            })
          }
          const clock = yield* Clock.currentTimeMillis
          const now = expect.notAfter === undefined ? clock : Math.min(clock, (expect.notAfter - 1) * 1000)
          const known = cacheOn ? recall(token, expect, clock, now) : undefined
          if (known !== undefined) return known
          const payload = yield* payloadOf(token, yield* jwks.current, expect, now)
          if (!clientIdMatches(payload, expect)) {
            return yield* new InvalidToken({
              source: "upstream",
              reason: "audience",
              description: "The upstream token was issued to another client",
            })
          }
          const claims = decodeClaims(payload)
          if (claims._tag === "None") {
            return yield* new InvalidToken({
              source: "upstream",
              reason: "claims",
              description: "The upstream token has claims of an unexpected shape",
            })
          }
          remember(token, expect, { claims: claims.value, payload }, clock)
          return claims.value
        }),
    })
  })

/**
 * A JWT verifier over the `Jwks` port (jose/WebCrypto).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeJwt = makeJwtWith(undefined)

/**
 * @category layers
 * @since 0.1.0
 */
export const layerJwt = Layer.effect(UpstreamVerifier, makeJwt)

/**
 * A JWT verifier with a synchronous path over `keys` (see `makeJwtWith`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerJwtWith = (
  keys: JwsKeys,
  options: JwtOptions = {},
): Layer.Layer<UpstreamVerifier, never, Jwks | Settings> =>
  Layer.effect(UpstreamVerifier, makeJwtWith(keys, options))

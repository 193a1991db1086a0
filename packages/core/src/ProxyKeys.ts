/**
 * The proxy's own token keys: signing and verifying the access tokens it issues.
 *
 * Port with a jose/WebCrypto implementation (runs on every runtime, the default) and an HS256
 * implementation over a synchronous HMAC a runtime provides (`makeHmacWith`; `node:crypto` on Node
 * through `@oidc-proxy/node`); the HS256 key of the current master secret signs and those of the
 * previous secrets still verify, which accepts only the exact shape the proxy issues and defers every
 * other token to jose, so both refuse the same tokens with the same reasons. Access tokens are JWTs with
 * `typ: at+jwt` (RFC 9068); a token of any other type — a refresh token included — is refused as
 * a bearer. The HS256 key is derived from the master secret with HKDF-SHA-256, so one configured
 * secret yields independent keys for signing and for storage encryption.
 *
 * @see [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068)
 * @see [RFC 5869](https://www.rfc-editor.org/rfc/rfc5869) (HKDF)
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { createLocalJWKSet, exportJWK, type JSONWebKeySet, type JWK, jwtVerify, SignJWT } from "jose"
import * as CompactHs256 from "./internal/compactHs256.ts"
import { fromJoseError } from "./internal/joseErrors.ts"
import { InvalidToken } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import { isDecoded, ProxyTokenClaims } from "./ProxyTokenClaims.ts"

/**
 * The JWT `typ` of the proxy's access tokens.
 *
 * @category constants
 * @since 0.1.0
 */
export const accessTokenType = "at+jwt"

/**
 * @category models
 * @since 0.1.0
 */
export interface ProxyKeysShape {
  /** Signs claims as an access token (`typ: at+jwt`). */
  readonly sign: (claims: ProxyTokenClaims) => Effect.Effect<string>
  /**
   * Verifies an access token: algorithm allow-list, signature, `typ`, `iss`, `aud` (the configured
   * resource), `exp`/`nbf` with the configured leeway at the `Clock`'s time, and the claim shapes.
   */
  readonly verify: (token: string) => Effect.Effect<ProxyTokenClaims, InvalidToken>
  /**
   * Optional, for keys that verify synchronously: `verify` at `nowMillis` (epoch ms) without the
   * Effect runtime — the claims, the refusal, or `undefined` when `verify` must decide (the
   * jose path). It must agree with `verify`.
   */
  readonly verifySync?: (token: string, nowMillis: number) => ProxyTokenClaims | InvalidToken | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class ProxyKeys extends Context.Service<ProxyKeys, ProxyKeysShape>()("@oidc-proxy/core/ProxyKeys") {}

/**
 * Minimum master-secret length, in bytes (UTF-8).
 *
 * @category constants
 * @since 0.1.0
 */
export const minimumSecretBytes = 32

/**
 * The master secret is too short to derive keys from.
 *
 * @category errors
 * @since 0.1.0
 */
export class WeakSecret extends Schema.TaggedError<WeakSecret>()("WeakSecret", {
  description: Schema.String,
}) {}

const encoder = new TextEncoder()

/**
 * Derives 32 bytes of key material for `purpose` from the master secret (HKDF-SHA-256).
 *
 * @category constructors
 * @since 0.1.0
 */
export const deriveKey = (
  secret: Redacted.Redacted<string>,
  purpose: string,
): Effect.Effect<Uint8Array<ArrayBuffer>, WeakSecret> =>
  Effect.gen(function* () {
    const bytes = encoder.encode(Redacted.value(secret))
    if (bytes.length < minimumSecretBytes) {
      return yield* new WeakSecret({
        description: `the master secret must be at least ${minimumSecretBytes} bytes`,
      })
    }
    return yield* Effect.promise(async () => {
      const base = await crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveBits"])
      const bits = await crypto.subtle.deriveBits(
        {
          name: "HKDF",
          hash: "SHA-256",
          salt: encoder.encode("oidc-proxy/v1"),
          info: encoder.encode(purpose),
        },
        base,
        256,
      )
      return new Uint8Array(bits)
    })
  })

const decodeWithSchema = Schema.decodeUnknownOption(ProxyTokenClaims)
/** A payload already in decoded form is used as is (`ProxyTokenClaims.isDecoded`); others are decoded. */
const decodeClaims = (payload: unknown): Option.Option<ProxyTokenClaims> =>
  isDecoded(payload) ? Option.some(payload) : decodeWithSchema(payload)

const missingClaim = new InvalidToken({
  source: "proxy",
  reason: "claims",
  description: "The access token lacks a required claim (sub, client_id, jti, exp or iat)",
})

/**
 * The jose verification every implementation shares: algorithm allow-list, signature, `typ`,
 * `iss`, `aud`, `exp`/`nbf` at the `Clock`'s time, then the claim shapes.
 */
const joseVerify = (
  token: string,
  key: Uint8Array | ReturnType<typeof createLocalJWKSet>,
  options: {
    readonly algorithms: Array<string>
    readonly issuer: string
    readonly audience: string
    readonly typ: string
    readonly clockTolerance: number
  },
): Effect.Effect<ProxyTokenClaims, InvalidToken> =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    const { payload } = yield* Effect.tryPromise({
      try: () => {
        const verifyOptions = { ...options, currentDate: new Date(now) }
        // Two calls, one per jose overload (a key, or a key-set function).
        return typeof key === "function"
          ? jwtVerify(token, key, verifyOptions)
          : jwtVerify(token, key, verifyOptions)
      },
      catch: (error) => fromJoseError("proxy", error),
    })
    const claims = decodeClaims(payload)
    return claims._tag === "Some" ? claims.value : yield* missingClaim
  })

/**
 * HS256 keys from raw key material. `key` signs; it and every `previous` key verify, so a token
 * signed before a rotation of the master secret stays valid until it expires.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeHmac = (
  key: Uint8Array,
  previous: ReadonlyArray<Uint8Array> = [],
): Effect.Effect<ProxyKeysShape, never, Settings> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const verifyOptions = {
      algorithms: ["HS256"],
      issuer: settings.issuer,
      audience: settings.resource,
      typ: accessTokenType,
      clockTolerance: settings.clock_tolerance_seconds,
    }
    // Only a bad signature is worth another key: every other verdict is the same under each.
    const verifyFrom =
      (i: number) =>
      (token: string): Effect.Effect<ProxyTokenClaims, InvalidToken> => {
        const verified = joseVerify(token, i === 0 ? key : previous[i - 1]!, verifyOptions)
        return i >= previous.length
          ? verified
          : Effect.catchIf(
              verified,
              (e) => e.reason === "signature",
              (e) => Effect.mapError(verifyFrom(i + 1)(token), () => e),
            )
      }
    return ProxyKeys.of({
      sign: (claims) =>
        Effect.promise(() =>
          new SignJWT({ ...claims, aud: typeof claims.aud === "string" ? claims.aud : [...claims.aud] })
            .setProtectedHeader({ alg: "HS256", typ: accessTokenType })
            .sign(key),
        ),
      verify: verifyFrom(0),
    })
  })

/**
 * Synchronous HMAC-SHA-256 operations over one key, as a runtime provides them (see
 * `makeHmacWith`).
 *
 * @category models
 * @since 0.1.0
 */
export type HmacSha256 = CompactHs256.HmacSha256

/**
 * HS256 keys over a synchronous HMAC (`hmacFor(key)`): signs the same bytes jose would; verifies
 * the proxy's own token shape in one synchronous step and hands every other token (and every
 * refusal but a bad signature) to the jose implementation, so reasons and descriptions are the
 * jose path's by construction.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeHmacWith = (
  key: Uint8Array,
  hmacFor: (key: Uint8Array) => HmacSha256,
  previous: ReadonlyArray<Uint8Array> = [],
): Effect.Effect<ProxyKeysShape, never, Settings> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const jose = yield* makeHmac(key, previous)
    const hmac = hmacFor(key)
    const previousHmacs = previous.map(hmacFor)
    const expect: CompactHs256.Expect = {
      issuer: settings.issuer,
      audience: settings.resource,
      typ: accessTokenType,
      tolerance: settings.clock_tolerance_seconds,
    }
    const signatureFails = new InvalidToken({
      source: "proxy",
      reason: "signature",
      description: "The access token signature does not verify",
    })
    // The claims, a bad signature, or `undefined`: jose decides.
    const verifySync = (token: string, now: number): ProxyTokenClaims | InvalidToken | undefined => {
      const seconds = Math.floor(now / 1000)
      let outcome = CompactHs256.verify(token, hmac, expect, seconds)
      // A previous key's signature (a token issued before a rotation) is as good as the current's.
      for (let i = 0; outcome._tag === "signature" && i < previousHmacs.length; i++)
        outcome = CompactHs256.verify(token, previousHmacs[i]!, expect, seconds)
      if (outcome._tag === "signature") return signatureFails
      if (outcome._tag === "defer") return undefined
      const claims = decodeClaims(outcome.payload)
      return claims._tag === "Some" ? claims.value : undefined
    }
    return ProxyKeys.of({
      sign: (claims) =>
        Effect.sync(() =>
          CompactHs256.sign(
            { ...claims, aud: typeof claims.aud === "string" ? claims.aud : [...claims.aud] },
            hmac,
          ),
        ),
      verify: (token) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const verdict = verifySync(token, now)
          return verdict === undefined
            ? jose.verify(token)
            : verdict instanceof InvalidToken
              ? Effect.fail(verdict)
              : Effect.succeed(verdict)
        }),
      verifySync,
    })
  })

/**
 * HS256 keys derived from a master secret, over a synchronous HMAC (see `makeHmacWith`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromSecretWith = (
  secret: Redacted.Redacted<string>,
  hmacFor: (key: Uint8Array) => HmacSha256,
): Layer.Layer<ProxyKeys, WeakSecret, Settings> => layerFromSecretsWith([secret], hmacFor)

/**
 * HS256 keys derived from master secrets, newest first, over a synchronous HMAC: the newest signs,
 * every one verifies (see `makeHmacWith`), so rotating the master secret keeps issued tokens valid.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromSecretsWith = (
  secrets: readonly [Redacted.Redacted<string>, ...Array<Redacted.Redacted<string>>],
  hmacFor: (key: Uint8Array) => HmacSha256,
): Layer.Layer<ProxyKeys, WeakSecret, Settings> =>
  Layer.effect(
    ProxyKeys,
    Effect.flatMap(
      Effect.forEach(secrets, (secret) => deriveKey(secret, "proxy-token-signing")),
      ([key, ...previous]) => makeHmacWith(key!, hmacFor, previous),
    ),
  )

/**
 * An asymmetric signing key: `kid`, algorithm, the private key and its public JWK.
 *
 * @category models
 * @since 0.1.0
 */
export interface AsymmetricKey {
  readonly kid: string
  readonly alg: "ES256" | "EdDSA"
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
}

/**
 * The public JWKS of asymmetric keys, for the proxy's `/jwks` endpoint.
 *
 * @category utils
 * @since 0.1.0
 */
export const publicJwks = (keys: ReadonlyArray<AsymmetricKey>): Effect.Effect<JSONWebKeySet> =>
  Effect.promise(async () => ({
    keys: await Promise.all(
      keys.map(
        async (k): Promise<JWK> => ({
          ...(await exportJWK(k.publicKey)),
          kid: k.kid,
          alg: k.alg,
          use: "sig",
        }),
      ),
    ),
  }))

/**
 * ES256 / EdDSA keys: the first signs (its `kid` in the header), every key verifies by `kid`, so
 * keys rotate by adding a new key first and dropping the old one once its tokens expired.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeAsymmetric = (
  keys: readonly [AsymmetricKey, ...Array<AsymmetricKey>],
): Effect.Effect<ProxyKeysShape, never, Settings> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const jwks = createLocalJWKSet(yield* publicJwks(keys))
    const current = keys[0]
    const verifyOptions = {
      algorithms: [...new Set(keys.map((k) => k.alg))],
      issuer: settings.issuer,
      audience: settings.resource,
      typ: accessTokenType,
      clockTolerance: settings.clock_tolerance_seconds,
    }
    return ProxyKeys.of({
      sign: (claims) =>
        Effect.promise(() =>
          new SignJWT({ ...claims, aud: typeof claims.aud === "string" ? claims.aud : [...claims.aud] })
            .setProtectedHeader({ alg: current.alg, kid: current.kid, typ: accessTokenType })
            .sign(current.privateKey),
        ),
      verify: (token) => joseVerify(token, jwks, verifyOptions),
    })
  })

/**
 * Asymmetric keys (see `makeAsymmetric`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerAsymmetric = (
  keys: readonly [AsymmetricKey, ...Array<AsymmetricKey>],
): Layer.Layer<ProxyKeys, never, Settings> => Layer.effect(ProxyKeys, makeAsymmetric(keys))

/**
 * HS256 keys derived from a master secret.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromSecret = (
  secret: Redacted.Redacted<string>,
): Layer.Layer<ProxyKeys, WeakSecret, Settings> =>
  Layer.effect(ProxyKeys, Effect.flatMap(deriveKey(secret, "proxy-token-signing"), makeHmac))

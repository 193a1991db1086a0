/**
 * A local upstream IdP for tests: an RS256 key pair, its JWKS, and a signer for id_tokens and
 * access tokens — no network.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload, SignJWT } from "jose"

/**
 * @category models
 * @since 0.1.0
 */
export interface TestUpstream {
  readonly issuer: string
  readonly clientId: string
  readonly kid: string
  readonly jwks: JSONWebKeySet
  /** Signs `claims` with the upstream key; `iss` defaults to the issuer, `iat` to `now`. */
  readonly sign: (
    claims: JWTPayload,
    options?: { readonly kid?: string; readonly now?: number; readonly typ?: string },
  ) => Effect.Effect<string>
  /** The private key, for tests that forge tokens with it (e.g. key confusion). */
  readonly privateKey: CryptoKey
  readonly publicKey: CryptoKey
}

/**
 * Makes a test upstream with a fresh RS256 key pair.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: { readonly issuer?: string; readonly clientId?: string; readonly kid?: string } = {},
): Effect.Effect<TestUpstream> =>
  Effect.promise(async () => {
    const issuer = options.issuer ?? "https://idp.test"
    const clientId = options.clientId ?? "proxy-client"
    const kid = options.kid ?? "upstream-key-1"
    const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true })
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }
    return {
      issuer,
      clientId,
      kid,
      jwks: { keys: [jwk] },
      privateKey,
      publicKey,
      sign: (claims, opts = {}) =>
        Effect.promise(() =>
          new SignJWT({ iss: issuer, ...claims })
            .setProtectedHeader({
              alg: "RS256",
              kid: opts.kid ?? kid,
              ...(opts.typ ? { typ: opts.typ } : {}),
            })
            .setIssuedAt(opts.now ?? Math.floor(Date.now() / 1000))
            .sign(privateKey),
        ),
    }
  })

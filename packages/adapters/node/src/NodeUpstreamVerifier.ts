/**
 * Upstream JWTs (RS256, PS256, ES256, EdDSA) verified synchronously with `node:crypto`.
 *
 * Adapter (Node only) for core's `UpstreamVerifier` port: core's `makeJwtWith` over `node:crypto`
 * `KeyObject`s built once per JWK of the fetched set (`createPublicKey`, `verify`). One
 * synchronous step instead of a WebCrypto thread-pool round trip per token. Tokens not in a plain
 * shape, keys this runtime cannot use, and every refusal are decided by jose, so verdicts are
 * jose's on every runtime.
 *
 * @since 0.1.0
 */
import {
  createPublicKey,
  type JsonWebKey,
  type KeyObject,
  constants as nodeConstants,
  verify,
} from "node:crypto"
import { type Jwks, type ProxyConfig, UpstreamVerifier } from "@oidc-proxy/core"
import type { Layer } from "effect"

type JWK = Parameters<UpstreamVerifier.JwsKeys["keyFor"]>[0]
type Check = (signingInput: string, signature: string) => boolean

const canonical = (segment: string): Buffer | undefined => {
  const bytes = Buffer.from(segment, "base64url")
  return bytes.toString("base64url") === segment ? bytes : undefined
}

const fatal = new TextDecoder("utf-8", { fatal: true })

const importKey = (jwk: JWK): KeyObject | undefined => {
  try {
    const key = createPublicKey({ key: jwk as unknown as JsonWebKey, format: "jwk" })
    return key.type === "public" ? key : undefined
  } catch {
    return undefined
  }
}

/** DER INTEGER of a big-endian unsigned value. */
const derInteger = (bytes: Buffer): Buffer => {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const value = bytes.subarray(start)
  const pad = (value[0]! & 0x80) !== 0 ? 1 : 0
  return Buffer.concat([Buffer.from([0x02, value.length + pad]), Buffer.alloc(pad), value])
}

/** An ECDSA P-256 signature `r‖s` (JWS) as DER, so the `KeyObject` can be passed bare. */
const p1363ToDer = (signature: Buffer): Buffer | undefined => {
  if (signature.length !== 64) return undefined
  const body = Buffer.concat([derInteger(signature.subarray(0, 32)), derInteger(signature.subarray(32))])
  return Buffer.concat([Buffer.from([0x30, body.length]), body])
}

// A bare KeyObject is much cheaper for node:crypto to prepare than `{ key, ...options }`.
const checkWith =
  (
    key: KeyObject | { readonly key: KeyObject },
    hash: string | null,
    convert: (signature: Buffer) => Buffer | undefined = (s) => s,
  ): Check =>
  (input, signature) => {
    const bytes = canonical(signature)
    const converted = bytes === undefined ? undefined : convert(bytes)
    if (converted === undefined) return false
    try {
      return verify(hash, Buffer.from(input, "latin1"), key as KeyObject, converted)
    } catch {
      return false
    }
  }

const rsaOk = (key: KeyObject) =>
  key.asymmetricKeyType === "rsa" && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048

const checkFor = (key: KeyObject, alg: UpstreamVerifier.JwsAlgorithm): Check | undefined => {
  switch (alg) {
    case "RS256":
      return rsaOk(key) ? checkWith(key, "sha256") : undefined
    case "PS256":
      return rsaOk(key)
        ? checkWith({ key, padding: nodeConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } as never, "sha256")
        : undefined
    case "ES256":
      return key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1"
        ? checkWith(key, "sha256", p1363ToDer)
        : undefined
    case "EdDSA":
      return key.asymmetricKeyType === "ed25519" ? checkWith(key, null) : undefined
  }
}

/**
 * `node:crypto` key operations for core's `UpstreamVerifier.makeJwtWith`: one `KeyObject` per
 * JWK object (a refetched set brings new objects, so a rotated key is never served stale).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeKeys = (): UpstreamVerifier.JwsKeys => {
  const cache = new WeakMap<JWK, Map<string, Check | undefined>>()
  return {
    keyFor: (jwk, alg) => {
      let byAlg = cache.get(jwk)
      if (byAlg === undefined) {
        byAlg = new Map()
        cache.set(jwk, byAlg)
      }
      if (byAlg.has(alg)) return byAlg.get(alg)
      const key = importKey(jwk)
      const check = key === undefined ? undefined : checkFor(key, alg)
      byAlg.set(alg, check)
      return check
    },
    decode: (segment) => {
      const bytes = canonical(segment)
      if (bytes === undefined) return undefined
      try {
        return fatal.decode(bytes)
      } catch {
        return undefined
      }
    },
  }
}

/**
 * The JWT verifier over the `Jwks` port with `node:crypto` on the accept path.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerJwt = (
  options: UpstreamVerifier.JwtOptions = {},
): Layer.Layer<UpstreamVerifier.UpstreamVerifier, never, Jwks.Jwks | ProxyConfig.Settings> =>
  UpstreamVerifier.layerJwtWith(makeKeys(), options)

/**
 * The proxy's HS256 access tokens signed and verified synchronously with `node:crypto`.
 *
 * Adapter (Node only) for core's `ProxyKeys` port: core's `makeHmacWith` over a `node:crypto`
 * HMAC-SHA-256 (`createHmac` with a `KeyObject`, `timingSafeEqual`). One synchronous step instead
 * of WebCrypto's thread-pool round trips (jose imports the raw key and verifies through
 * `crypto.subtle` on every call). Tokens not in the proxy's exact shape, and every refusal other
 * than a bad signature, are decided by the jose implementation, so reasons and descriptions are
 * identical on every runtime.
 *
 * @since 0.1.0
 */
import { createHmac, createSecretKey, timingSafeEqual } from "node:crypto"
import { type ProxyConfig, ProxyKeys } from "@oidc-proxy/core"
import type { Layer, Redacted } from "effect"

/**
 * HMAC-SHA-256 over `key` with `node:crypto`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const hmacSha256 = (key: Uint8Array): ProxyKeys.HmacSha256 => {
  const secret = createSecretKey(key)
  const mac = (data: string) => createHmac("sha256", secret).update(data, "latin1").digest()
  return {
    sign: (data) => mac(data).toString("base64url"),
    verify: (data, signature) => {
      const expected = mac(data)
      const given = Buffer.from(signature, "base64url")
      return given.length === expected.length && timingSafeEqual(given, expected)
    },
    decode: (segment) => Buffer.from(segment, "base64url").toString("utf8"),
    encode: (text) => Buffer.from(text, "utf8").toString("base64url"),
  }
}

/**
 * HS256 keys derived from a master secret (as `ProxyKeys.layerFromSecret`), on `node:crypto`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromSecret = (
  secret: Redacted.Redacted<string>,
): Layer.Layer<ProxyKeys.ProxyKeys, ProxyKeys.WeakSecret, ProxyConfig.Settings> =>
  ProxyKeys.layerFromSecretWith(secret, hmacSha256)

/**
 * HS256 keys derived from master secrets, newest first (as `ProxyKeys.layerFromSecretsWith`), on
 * `node:crypto`: the newest signs, every one verifies.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFromSecrets = (
  secrets: readonly [Redacted.Redacted<string>, ...Array<Redacted.Redacted<string>>],
): Layer.Layer<ProxyKeys.ProxyKeys, ProxyKeys.WeakSecret, ProxyConfig.Settings> =>
  ProxyKeys.layerFromSecretsWith(secrets, hmacSha256)

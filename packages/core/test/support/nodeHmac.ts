/**
 * A `node:crypto` HMAC-SHA-256 for running core's tests against `ProxyKeys.makeHmacWith` (the
 * same operations `@oidc-proxy/node`'s `NodeProxyKeys.hmacSha256` provides; core itself imports
 * no Node module).
 */
import { createHmac, createSecretKey, timingSafeEqual } from "node:crypto"
import type { HmacSha256 } from "../../src/ProxyKeys.ts"

export const nodeHmacSha256 = (key: Uint8Array): HmacSha256 => {
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

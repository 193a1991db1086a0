/**
 * Storage keys (AES-256-GCM for upstream tokens, HMAC-SHA-256 for bearer-secret ids) computed
 * synchronously with `node:crypto`.
 *
 * Adapter (Node only) for core's `StorageKeys` port. Same keys (HKDF from the same master secrets,
 * core's `deriveKey`) and the same ciphertext format as core's WebCrypto implementation —
 * `v1.<kid>.<iv>.<ciphertext‖tag>` in base64url, the key id as additional data — so either reads
 * what the other wrote. One synchronous `KeyObject` operation instead of a WebCrypto thread-pool
 * round trip per record.
 *
 * @see [NIST SP 800-38D](https://csrc.nist.gov/pubs/sp/800/38/d/final) (GCM: 96-bit random IVs)
 * @since 0.1.0
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from "node:crypto"
import { ProxyKeys, StorageKeys, Store } from "@oidc-proxy/core"
import { Effect, Layer, Option } from "effect"

const tagLength = 16

/**
 * The bytes of a base64url segment, or `undefined` unless it is only alphabet characters and a
 * whole number of them. Cheaper than a regular expression over a ~2 KB record: Node's decoder
 * skips characters outside the alphabet and stops at `=`, so any of them leaves fewer bytes than
 * the length promises; `+` and `/` (which it would decode) are looked for directly.
 */
const fromSegment = (text: string): Buffer | undefined => {
  if ((text.length & 3) === 1 || text.includes("+") || text.includes("/")) return undefined
  const bytes = Buffer.from(text, "base64url")
  return bytes.length === (text.length * 3) >> 2 ? bytes : undefined
}

interface AesKey {
  readonly key: KeyObject
  readonly aad: Buffer
}

/**
 * Builds storage keys from secrets, newest first (as `StorageKeys.make`).
 *
 * Fails with `WeakSecret` when a secret is too short.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  secrets: readonly [StorageKeys.KeySecret, ...Array<StorageKeys.KeySecret>],
): Effect.Effect<StorageKeys.StorageKeysShape, ProxyKeys.WeakSecret> =>
  Effect.gen(function* () {
    const aes = new Map<string, AesKey>()
    const hmacs: Array<KeyObject> = []
    for (const { kid, secret } of secrets) {
      if (!/^[\w-]{1,32}$/.test(kid))
        return yield* Effect.die(new Error(`storage key id must match [\\w-]{1,32}`))
      const raw = yield* ProxyKeys.deriveKey(secret, "storage-encryption")
      aes.set(kid, { key: createSecretKey(raw), aad: Buffer.from(kid, "utf8") })
      hmacs.push(createSecretKey(yield* ProxyKeys.deriveKey(secret, "storage-key-hash")))
    }
    const kid = secrets[0].kid
    const current = aes.get(kid)!
    // `StorageKeys.hashInput`'s bytes: "utf8" would write a lone surrogate as U+FFFD, so keys
    // differing only there would share one hash (one record).
    const hmacWith = (key: KeyObject, secret: string) =>
      (Store.isWellFormed(secret)
        ? createHmac("sha256", key).update(secret, "utf8")
        : createHmac("sha256", key).update(StorageKeys.hashInput(secret))
      ).digest("base64url")
    const encrypt = (plaintext: string) => {
      const iv = randomBytes(12)
      const cipher = createCipheriv("aes-256-gcm", current.key, iv).setAAD(current.aad)
      const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()])
      return `v1.${kid}.${iv.toString("base64url")}.${ct.toString("base64url")}`
    }
    const decrypt = (ciphertext: string): string | undefined => {
      const parts = ciphertext.split(".")
      if (parts.length !== 4 || parts[0] !== "v1") return undefined
      const [, name, iv64, ct64] = parts as [string, string, string, string]
      const key = aes.get(name)
      if (key === undefined) return undefined
      const iv = fromSegment(iv64)
      const ct = iv?.length === 12 ? fromSegment(ct64) : undefined
      if (iv === undefined || ct === undefined || ct.length < tagLength) return undefined
      try {
        const decipher = createDecipheriv("aes-256-gcm", key.key, iv, { authTagLength: tagLength })
        decipher.setAAD(key.aad).setAuthTag(ct.subarray(ct.length - tagLength))
        // GCM's final() yields no bytes; it checks the tag (and throws on a mismatch).
        const plain = decipher.update(ct.subarray(0, ct.length - tagLength))
        decipher.final()
        return plain.toString("utf8")
      } catch {
        return undefined
      }
    }
    return StorageKeys.StorageKeys.of({
      hash: (secret) => Effect.sync(() => hmacWith(hmacs[0]!, secret)),
      hashes: (secret) => Effect.sync(() => hmacs.map((key) => hmacWith(key, secret))),
      encrypt: (plaintext) => Effect.sync(() => encrypt(plaintext)),
      decrypt: (ciphertext) => Effect.sync(() => Option.fromNullishOr(decrypt(ciphertext))),
      decryptSync: decrypt,
    })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  secrets: readonly [StorageKeys.KeySecret, ...Array<StorageKeys.KeySecret>],
): Layer.Layer<StorageKeys.StorageKeys, ProxyKeys.WeakSecret> =>
  Layer.effect(StorageKeys.StorageKeys, make(secrets))

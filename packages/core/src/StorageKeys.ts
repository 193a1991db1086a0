/**
 * Keys that protect what the proxy stores: keyed hashes for bearer-secret keys and AES-256-GCM for
 * upstream tokens.
 *
 * Port with a WebCrypto implementation (every runtime). Keys are derived from master secrets with
 * HKDF; each secret has a key id. The newest key encrypts, every configured key decrypts (so keys
 * rotate without losing sessions), and the key id travels with the ciphertext. A bearer secret
 * (code, refresh token, transaction id) is stored only under its HMAC-SHA-256 with the newest key,
 * and looked up under every configured key's hash, so a rotation does not sign anyone out.
 *
 * @see [NIST SP 800-38D](https://csrc.nist.gov/pubs/sp/800/38/d/final) (GCM: 96-bit random IVs)
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, type Redacted, Result } from "effect"
import { Base64Url } from "effect/encoding"
import { deriveKey, type WeakSecret } from "./ProxyKeys.ts"
import { isWellFormed } from "./Store.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface StorageKeysShape {
  /** The keyed hash (HMAC-SHA-256, base64url) under which a bearer secret is stored (newest key). */
  readonly hash: (secret: string) => Effect.Effect<string>
  /**
   * The hashes of `secret` under every configured key, newest first: records written before a
   * rotation are found under an older key's hash.
   */
  readonly hashes: (secret: string) => Effect.Effect<ReadonlyArray<string>>
  /** Encrypts with the newest key: `v1.<kid>.<iv>.<ciphertext>` (base64url parts). */
  readonly encrypt: (plaintext: string) => Effect.Effect<string>
  /** Decrypts with the key the ciphertext names; none when the key is unknown or the tag fails. */
  readonly decrypt: (ciphertext: string) => Effect.Effect<Option.Option<string>>
  /**
   * Optional, for runtimes with synchronous ciphers (`node:crypto`): `decrypt` answered
   * synchronously, `undefined` when it would be none. It must agree with `decrypt`.
   */
  readonly decryptSync?: (ciphertext: string) => string | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class StorageKeys extends Context.Service<StorageKeys, StorageKeysShape>()(
  "@oidc-proxy/core/StorageKeys",
) {}

/**
 * A master secret with its key id. The first of a list is the current one.
 *
 * @category models
 * @since 0.1.0
 */
export interface KeySecret {
  readonly kid: string
  readonly secret: Redacted.Redacted<string>
}

const b64 = Base64Url.encode
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The bytes a key is hashed over: UTF-8 when `text` is well-formed (the hashes stored so far), else
 * 0xFF then its UTF-16 code units (little-endian). `TextEncoder` writes a lone surrogate as U+FFFD,
 * so `"\uD800"`, `"\uDFFF"` and `"\uFFFD"` would share one hash, i.e. one record; 0xFF never
 * occurs in UTF-8, so the second form can equal no first one, and it keeps every code unit.
 */
/**
 * The bytes a key is hashed over, for implementations of `StorageKeys` (the same input gives the
 * same hashes everywhere): UTF-8 for well-formed text, else 0xFF and the UTF-16 code units.
 *
 * @category utils
 * @since 0.1.0
 */
export const hashInput = (text: string): Uint8Array<ArrayBuffer> => {
  if (isWellFormed(text)) return encoder.encode(text)
  const bytes = new Uint8Array(1 + 2 * text.length)
  bytes[0] = 0xff
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    bytes[1 + 2 * i] = unit & 0xff
    bytes[2 + 2 * i] = unit >> 8
  }
  return bytes
}

/**
 * Builds storage keys from secrets, newest first.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  secrets: readonly [KeySecret, ...Array<KeySecret>],
): Effect.Effect<StorageKeysShape, WeakSecret> =>
  Effect.gen(function* () {
    const aes = new Map<string, CryptoKey>()
    for (const { kid, secret } of secrets) {
      if (!/^[\w-]{1,32}$/.test(kid))
        return yield* Effect.die(new Error(`storage key id must match [\\w-]{1,32}`))
      const raw = yield* deriveKey(secret, "storage-encryption")
      aes.set(
        kid,
        yield* Effect.promise(() =>
          crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]),
        ),
      )
    }
    const current = secrets[0]
    const hmacs: Array<CryptoKey> = []
    for (const { secret } of secrets) {
      const raw = yield* deriveKey(secret, "storage-key-hash")
      hmacs.push(
        yield* Effect.promise(() =>
          crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]),
        ),
      )
    }
    const currentKey = aes.get(current.kid)!
    const hmacWith = (key: CryptoKey, secret: string) =>
      Effect.promise(() => crypto.subtle.sign("HMAC", key, hashInput(secret))).pipe(
        Effect.map((sig) => b64(new Uint8Array(sig))),
      )
    return StorageKeys.of({
      hash: (secret) => hmacWith(hmacs[0]!, secret),
      hashes: (secret) => Effect.forEach(hmacs, (key) => hmacWith(key, secret)),
      encrypt: (plaintext) =>
        Effect.promise(async () => {
          const iv = crypto.getRandomValues(new Uint8Array(12))
          const aad = encoder.encode(current.kid)
          const ct = await crypto.subtle.encrypt(
            { name: "AES-GCM", iv, additionalData: aad },
            currentKey,
            encoder.encode(plaintext),
          )
          return `v1.${current.kid}.${b64(iv)}.${b64(new Uint8Array(ct))}`
        }),
      decrypt: (ciphertext) => {
        const parts = ciphertext.split(".")
        const [version, kid, iv, ct] = parts
        const key = kid === undefined ? undefined : aes.get(kid)
        const ivBytes = Base64Url.decode(iv ?? "")
        const ctBytes = Base64Url.decode(ct ?? "")
        if (
          parts.length !== 4 ||
          version !== "v1" ||
          kid === undefined ||
          key === undefined ||
          Result.isFailure(ivBytes) ||
          Result.isFailure(ctBytes)
        ) {
          return Effect.succeedNone
        }
        return Effect.tryPromise(() =>
          crypto.subtle.decrypt(
            {
              name: "AES-GCM",
              iv: ivBytes.success as Uint8Array<ArrayBuffer>,
              additionalData: encoder.encode(kid),
            },
            key,
            ctBytes.success as Uint8Array<ArrayBuffer>,
          ),
        ).pipe(
          Effect.map((plain) => Option.some(decoder.decode(plain))),
          Effect.orElseSucceed(() => Option.none<string>()),
        )
      },
    })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  secrets: readonly [KeySecret, ...Array<KeySecret>],
): Layer.Layer<StorageKeys, WeakSecret> => Layer.effect(StorageKeys, make(secrets))

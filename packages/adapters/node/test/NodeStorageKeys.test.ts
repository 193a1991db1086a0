/**
 * NodeStorageKeys: the node:crypto implementation and core's WebCrypto one share keys and format —
 * each reads what the other wrote, hashes are identical, tampering and unknown key ids are misses
 * on both, and key rotation works across them.
 */
import { assert, describe, it } from "@effect/vitest"
import { StorageKeys } from "@oidc-proxy/core"
import { Effect, Option, Redacted } from "effect"
import fc from "fast-check"
import * as NodeStorageKeys from "../src/NodeStorageKeys.ts"

const secrets = [
  { kid: "k2", secret: Redacted.make("node-storage-keys-second-secret-0123456789") },
  { kid: "k1", secret: Redacted.make("node-storage-keys-first-secret-0123456789ab") },
] as const

const both = Effect.gen(function* () {
  const web = yield* StorageKeys.make(secrets)
  const node = yield* NodeStorageKeys.make(secrets)
  const webOld = yield* StorageKeys.make([secrets[1]])
  const nodeOld = yield* NodeStorageKeys.make([secrets[1]])
  return { web, node, webOld, nodeOld }
}).pipe(Effect.orDie)

const texts = ["", "a", '{"id":"s1","access_token":"eyJ…","scope":["openid"]}', "é😀\u0000".repeat(50)]

describe("NodeStorageKeys", () => {
  it.effect("encrypt/decrypt - each reads what the other wrote", () =>
    Effect.gen(function* () {
      const { web, node } = yield* both
      for (const text of texts) {
        const fromNode = yield* node.encrypt(text)
        const fromWeb = yield* web.encrypt(text)
        assert.match(fromNode, /^v1\.k2\.[\w-]{16}\.[\w-]+$/)
        assert.strictEqual(fromNode.length, fromWeb.length)
        assert.deepStrictEqual(yield* web.decrypt(fromNode), Option.some(text))
        assert.deepStrictEqual(yield* node.decrypt(fromWeb), Option.some(text))
        assert.deepStrictEqual(yield* node.decrypt(fromNode), Option.some(text))
        assert.strictEqual(node.decryptSync?.(fromWeb), text)
        assert.strictEqual(node.decryptSync?.(fromNode), text)
      }
    }),
  )

  it.effect("decrypt - records written before a rotation, by either implementation", () =>
    Effect.gen(function* () {
      const { web, node, webOld, nodeOld } = yield* both
      const a = yield* nodeOld.encrypt("old")
      const b = yield* webOld.encrypt("old")
      for (const keys of [web, node]) {
        assert.deepStrictEqual(yield* keys.decrypt(a), Option.some("old"))
        assert.deepStrictEqual(yield* keys.decrypt(b), Option.some("old"))
      }
      // The old-only keys cannot read what the new key wrote.
      assert.isTrue(Option.isNone(yield* nodeOld.decrypt(yield* node.encrypt("new"))))
    }),
  )

  it.effect("decrypt - the same miss on tampered and malformed ciphertexts", () =>
    Effect.gen(function* () {
      const { web, node } = yield* both
      const valid = yield* web.encrypt("secret tokens")
      const [v, kid, iv, ct] = valid.split(".") as [string, string, string, string]
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1)
      const corpus = [
        `${v}.${kid}.${iv}.${flip(ct, 3)}`,
        `${v}.${kid}.${flip(iv, 2)}.${ct}`,
        `${v}.${kid}.${iv}.${ct.slice(0, -2)}`,
        `${v}.k1.${iv}.${ct}`,
        `${v}.nope.${iv}.${ct}`,
        `v2.${kid}.${iv}.${ct}`,
        `${v}.${kid}.${iv}`,
        `${v}.${kid}.${iv}.${ct}.x`,
        `${v}.${kid}.${iv}.*${ct}`,
        `${v}.${kid}..${ct}`,
        `${v}.${kid}.${iv}.`,
        "",
      ]
      for (const text of corpus) {
        assert.strictEqual(node.decryptSync?.(text), undefined, text)
        assert.isTrue(Option.isNone(yield* node.decrypt(text)), text)
        assert.isTrue(Option.isNone(yield* web.decrypt(text)), text)
      }
      // Only canonical base64url segments (WebCrypto's decoder skips whitespace; this one refuses).
      const strict = [
        ...["+", "/", " ", "=", "\n", "é", "."].map(
          (c) => `${v}.${kid}.${iv}.${ct.slice(0, 5)}${c}${ct.slice(5)}`,
        ),
        ...["+", "/", "=", "!"].map((c) => `${v}.${kid}.${iv.slice(0, 4)}${c}${iv.slice(5)}.${ct}`),
        `${v}.${kid}.${iv}.${ct}A`,
        `${v}.${kid}.${iv}.${ct}==`,
        `${v}.${kid}.${iv}A.${ct}`,
      ]
      for (const text of strict) {
        assert.strictEqual(node.decryptSync?.(text), undefined, text)
        assert.isTrue(Option.isNone(yield* node.decrypt(text)), text)
      }
      // No other spelling of a valid ciphertext decrypts: any character inserted anywhere.
      fc.assert(
        fc.property(fc.nat(iv.length + ct.length), fc.string({ minLength: 1, maxLength: 2 }), (at, c) => {
          const body = `${iv}.${ct}`
          const text = `${v}.${kid}.${body.slice(0, at)}${c}${body.slice(at)}`
          assert.strictEqual(node.decryptSync?.(text), undefined, text)
        }),
        { numRuns: 500 },
      )
    }),
  )

  it.effect("hash - keys differing only in a lone surrogate keep distinct hashes (as StorageKeys)", () =>
    Effect.gen(function* () {
      const { node } = yield* both
      const hashes = yield* Effect.forEach(["k\uD800", "k\uDFFF", "k\uFFFD"], node.hash)
      assert.strictEqual(new Set(hashes).size, 3)
    }),
  )

  it.effect("hash/hashes - identical keyed hashes, newest key first", () =>
    Effect.gen(function* () {
      const { web, node, webOld } = yield* both
      for (const secret of ["code-123", "é".repeat(40), "", "k\uD800", "k\uDFFF", "\uDC00x\uD83D"]) {
        assert.strictEqual(yield* node.hash(secret), yield* web.hash(secret))
        assert.deepStrictEqual(yield* node.hashes(secret), yield* web.hashes(secret))
        assert.strictEqual((yield* node.hashes(secret))[1], yield* webOld.hash(secret))
      }
    }),
  )
})

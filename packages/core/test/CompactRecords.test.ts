/**
 * Compact records: the memory store holds `v1.` ciphertexts as binary and hands back exactly the
 * string stored; collections with an `idField` do not store the id twice and still read records
 * written before; an upstream token set's `raw` keeps only members the record does not model.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import * as fc from "fast-check"
import * as StorageKeys from "../src/StorageKeys.ts"
import * as Store from "../src/Store.ts"
import * as TokenStore from "../src/TokenStore.ts"
import * as UpstreamTokenSet from "../src/UpstreamTokenSet.ts"

const b64url = fc
  .uint8Array({ minLength: 0, maxLength: 300 })
  .map((bytes) => Buffer.from(bytes).toString("base64url"))

const storageKeys = StorageKeys.layer([
  { kid: "k1", secret: Redacted.make("test-secret-test-secret-test-secret-0123456789") },
]).pipe(Layer.orDie)

describe("CompactRecords", () => {
  it("memory store - every value comes back byte for byte, packed or not", () => {
    fc.assert(
      fc.property(
        fc.oneof(b64url, fc.string(), fc.string({ unit: "grapheme" })),
        fc.oneof(
          b64url,
          fc.uint8Array({ minLength: 12, maxLength: 12 }).map((b) => Buffer.from(b).toString("base64url")),
        ),
        fc.boolean(),
        (tail, iv, asCiphertext) =>
          Effect.runSync(
            Effect.gen(function* () {
              const store = yield* Store.makeMemory
              const value = asCiphertext ? `v1.k1.${iv}.${tail}` : tail
              yield* store.set("k", value, "1 minute")
              assert.strictEqual(Option.getOrUndefined(yield* store.get("k")), value)
              assert.strictEqual(Option.getOrUndefined(yield* store.take("k")), value)
            }),
          ),
      ),
      { numRuns: 500 },
    )
  })

  it.effect("memory store - a real ciphertext and near misses (non-canonical, padded) round-trip", () =>
    Effect.gen(function* () {
      const store = yield* Store.makeMemory
      const keys = yield* StorageKeys.StorageKeys
      const real = yield* keys.encrypt("x".repeat(500))
      const iv = "AAECAwQFBgcICQoL"
      const body = Buffer.alloc(100, 7).toString("base64url")
      for (const value of [
        real,
        `v1.k1.${iv}.${body}`,
        `v1.k1.${iv}.${body.slice(0, -1)}B`, // last character with non-zero spare bits
        `v1.k1.${iv}.${body}==`,
        `v1.k1.AAECAwQFBgcICQo.${body}`,
        `v1.k1.${iv}.${body}.extra`,
      ]) {
        yield* store.set("k", value, "1 minute")
        assert.strictEqual(Option.getOrUndefined(yield* store.get("k")), value)
      }
      yield* store.set("k", real, "1 minute")
      assert.strictEqual(
        Option.getOrUndefined(yield* keys.decrypt(Option.getOrThrow(yield* store.get("k")))),
        "x".repeat(500),
      )
    }).pipe(Effect.provide(storageKeys)),
  )

  it.effect("jti mappings and token sets - the id is not stored twice; records holding it still decode", () =>
    Effect.gen(function* () {
      const raw = yield* Store.makeMemory
      const tokenStore = yield* TokenStore.make.pipe(Effect.provideService(Store.Store, raw))
      const keys = yield* StorageKeys.StorageKeys
      const mapping = { jti: "jti-1", upstream_token_set_id: "set-1", client_id: "c1", expires_at: 2e9 }
      yield* tokenStore.jtiMappings.set("jti-1", mapping, "1 minute")
      const stored = Option.getOrThrow(yield* raw.get("jti:jti-1"))
      assert.notInclude(stored, "jti-1")
      assert.deepStrictEqual(Option.getOrUndefined(yield* tokenStore.jtiMappings.get("jti-1")), mapping)
      // Written before the change: the field is there, and wins.
      yield* raw.set("jti:jti-2", JSON.stringify({ ...mapping, jti: "jti-2" }), "1 minute")
      assert.deepStrictEqual(Option.getOrUndefined(yield* tokenStore.jtiMappings.get("jti-2")), {
        ...mapping,
        jti: "jti-2",
      })
      const set = {
        id: "set-1",
        access_token: "at",
        token_type: "Bearer",
        scope: ["openid"],
        expires_at: 2e9,
        raw: {},
      }
      yield* tokenStore.upstreamTokenSets.set("set-1", set, "1 minute")
      const plain = Option.getOrThrow(
        yield* keys.decrypt(Option.getOrThrow(yield* raw.get("upstream:set-1"))),
      )
      assert.notInclude(plain, '"id"')
      assert.deepStrictEqual(Option.getOrUndefined(yield* tokenStore.upstreamTokenSets.get("set-1")), set)
      yield* raw.set(
        "upstream:set-2",
        yield* keys.encrypt(JSON.stringify({ ...set, id: "set-2" })),
        "1 minute",
      )
      assert.deepStrictEqual(Option.getOrUndefined(yield* tokenStore.upstreamTokenSets.get("set-2")), {
        ...set,
        id: "set-2",
      })
    }).pipe(Effect.provide(storageKeys)),
  )

  it("fromTokenResponse - raw keeps only unmodelled members", () => {
    const set = UpstreamTokenSet.fromTokenResponse(
      "s",
      {
        access_token: "at",
        token_type: "Bearer",
        id_token: "idt",
        refresh_token: "rt",
        expires_in: 60,
        scope: "openid",
        raw: {
          access_token: "at",
          token_type: "Bearer",
          id_token: "idt",
          refresh_token: "rt",
          expires_in: 60,
          refresh_expires_in: 600,
          scope: "openid",
          session_state: "abc",
          "not-before-policy": 0,
        },
      },
      1000,
      [],
    )
    assert.deepStrictEqual(set.raw, { session_state: "abc", "not-before-policy": 0 })
    assert.strictEqual(set.access_token, "at")
    assert.strictEqual(set.id_token, "idt")
  })
})

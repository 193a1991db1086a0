import { assert, describe, it } from "@effect/vitest"
import { Store } from "@oidc-proxy/core"
import { Effect, Exit, Layer } from "effect"
import { StoreConformance } from "../src/index.ts"

StoreConformance.suite("StoreConformance on Store.layerMemory", Store.layerMemory)
StoreConformance.suite(
  "StoreConformance on Store.refusingIllFormed(layerMemory)",
  Store.layerTest((memory) => Store.refusingIllFormed(memory)),
)

/** What a UTF-8 backend stores for `text`: a lone surrogate becomes U+FFFD. */
const utf8 = (text: string) => new TextDecoder().decode(new TextEncoder().encode(text))

// The kit is only worth something if it rejects broken stores: each store below breaks one rule of
// the port, and the check for that rule must fail on it.
const broken: ReadonlyArray<readonly [string, string, Layer.Layer<Store.Store>]> = [
  [
    "a take that reads and deletes in two steps",
    "take - of 50 concurrent takes of one key exactly one sees the value",
    Store.layerTest((memory) => ({
      take: (key) =>
        Effect.flatMap(memory.get(key), (value) =>
          Effect.yieldNow.pipe(Effect.andThen(memory.delete(key)), Effect.as(value)),
        ),
    })),
  ],
  [
    "a setIfAbsent that reads then writes in two steps",
    "setIfAbsent - of 50 concurrent calls for one key exactly one writes",
    Store.layerTest((memory) => ({
      setIfAbsent: (key, value, ttl) =>
        Effect.flatMap(memory.get(key), (found) =>
          found._tag === "Some"
            ? Effect.succeed(false)
            : Effect.yieldNow.pipe(Effect.andThen(memory.set(key, value, ttl)), Effect.as(true)),
        ),
    })),
  ],
  [
    "a setIfAbsent that overwrites a live value",
    "setIfAbsent - writes once, refuses while live, writes again after expiry",
    Store.layerTest((memory) => ({
      setIfAbsent: (key, value, ttl) => Effect.as(memory.set(key, value, ttl), true),
    })),
  ],
  [
    "a setIfAbsent that refuses over an expired value",
    "setIfAbsent - writes once, refuses while live, writes again after expiry",
    Store.layerTest((memory) => {
      const seen = new Set<string>()
      return {
        setIfAbsent: (key, value, ttl) =>
          Effect.suspend(() => {
            if (seen.has(key)) return Effect.succeed(false)
            seen.add(key)
            return Effect.as(memory.set(key, value, ttl), true)
          }),
      }
    }),
  ],
  [
    "a set that ignores the TTL",
    "set/get - a value is readable before its TTL passes and gone after",
    Store.layerTest((memory) => ({ set: (key, value) => memory.set(key, value, "1 day") })),
  ],
  [
    "a set that keeps the first TTL on overwrite",
    "set - overwriting replaces the value and the TTL",
    Layer.unwrap(
      Effect.sync(() => {
        const ttls = new Map<string, Parameters<Store.StoreShape["set"]>[2]>()
        return Store.layerTest((memory) => ({
          set: (key, value, ttl) => {
            if (!ttls.has(key)) ttls.set(key, ttl)
            return memory.set(key, value, ttls.get(key)!)
          },
        }))
      }),
    ),
  ],
  [
    "a store that trims keys",
    "set/get/delete - unusual keys are distinct and kept verbatim",
    Store.layerTest((memory) => ({
      get: (key) => memory.get(key.trim()),
      set: (key, value, ttl) => memory.set(key.trim(), value, ttl),
      delete: (key) => memory.delete(key.trim()),
    })),
  ],
  [
    "a store that truncates values at 64 KiB",
    "set/get/take - a 1 MB value round-trips",
    Store.layerTest((memory) => ({ set: (key, value, ttl) => memory.set(key, value.slice(0, 65_536), ttl) })),
  ],
  [
    "a store that normalises unicode",
    "set/get - values with unicode, newlines, quotes and JSON round-trip unchanged",
    Store.layerTest((memory) => ({ set: (key, value, ttl) => memory.set(key, value.normalize("NFC"), ttl) })),
  ],
  [
    "a delete that fails on an absent key",
    "delete - removes the key, and deleting an absent key succeeds",
    Store.layerTest((memory) => ({
      delete: (key) =>
        Effect.flatMap(memory.get(key), (found) =>
          found._tag === "None" ? Effect.fail(Store.storeError("delete", "no such key")) : memory.delete(key),
        ),
    })),
  ],
  [
    "a store that writes keys as UTF-8, a lone surrogate as U+FFFD (Postgres, Redis, SQLite unguarded)",
    "keys - keys that differ only in a lone UTF-16 surrogate stay distinct, or are refused",
    Store.layerTest((memory) => ({
      get: (key) => memory.get(utf8(key)),
      set: (key, value, ttl) => memory.set(utf8(key), value, ttl),
      take: (key) => memory.take(utf8(key)),
    })),
  ],
  [
    "a store that refuses every key with a character outside printable ASCII",
    "keys - keys that differ only in a lone UTF-16 surrogate stay distinct, or are refused",
    Store.layerTest((memory) => ({
      set: (key, value, ttl) =>
        /^[ -~]*$/.test(key) ? memory.set(key, value, ttl) : Effect.fail(Store.storeError("set", "")),
    })),
  ],
  [
    "a store that writes values as UTF-8, a lone surrogate as U+FFFD",
    "values - a value with a lone UTF-16 surrogate reads back as written, or is refused",
    Store.layerTest((memory) => ({ set: (key, value, ttl) => memory.set(key, utf8(value), ttl) })),
  ],
]

describe("StoreConformance", () => {
  for (const [store, check, layer] of broken) {
    it.effect(`checks - "${check}" rejects ${store}`, () =>
      Effect.gen(function* () {
        const run = StoreConformance.checks[check]
        assert.isDefined(run, `no check named "${check}"`)
        const exit = yield* Effect.exit(run!(StoreConformance.time("test")).pipe(Effect.provide(layer)))
        assert.isTrue(Exit.isFailure(exit), "the check passed on a broken store")
      }),
    )
  }
})

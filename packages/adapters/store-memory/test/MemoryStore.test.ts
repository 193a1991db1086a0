import { assert, describe, it } from "@effect/vitest"
import { Store } from "@oidc-proxy/core"
import { Clock, Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import * as MemoryStore from "../src/index.ts"

describe("MemoryStore", () => {
  it.effect("set/get - a value is readable until its TTL passes", () =>
    Effect.gen(function* () {
      const store = yield* Store.Store
      yield* store.set("k", "v", "10 seconds")
      assert.deepStrictEqual(yield* store.get("k"), Option.some("v"))
      yield* TestClock.adjust("9 seconds")
      assert.deepStrictEqual(yield* store.get("k"), Option.some("v"))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* store.get("k"), Option.none())
    }).pipe(Effect.provide(MemoryStore.layer)),
  )

  it.effect("take - of many concurrent takes exactly one sees the value", () =>
    Effect.gen(function* () {
      const store = yield* Store.Store
      yield* store.set("code", "secret", "1 minute")
      const results = yield* Effect.all(
        Array.from({ length: 50 }, () => store.take("code")),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(results.filter(Option.isSome).length, 1)
      assert.deepStrictEqual(yield* store.get("code"), Option.none())
    }).pipe(Effect.provide(MemoryStore.layer)),
  )

  it.effect("delete and overwrite", () =>
    Effect.gen(function* () {
      const store = yield* Store.Store
      yield* store.set("k", "1", "1 minute")
      yield* store.set("k", "2", "1 minute")
      assert.deepStrictEqual(yield* store.get("k"), Option.some("2"))
      yield* store.delete("k")
      yield* store.delete("absent")
      assert.deepStrictEqual(yield* store.get("k"), Option.none())
    }).pipe(Effect.provide(MemoryStore.layer)),
  )

  it.effect("getSync - answers what get answers, at the time it is given", () =>
    Effect.gen(function* () {
      const store = yield* Store.Store
      const packed = `v1.k1.AAECAwQFBgcICQoL.${Buffer.alloc(80, 9).toString("base64url")}`
      yield* store.set("plain", "v", "10 seconds")
      yield* store.set("packed", packed, "10 seconds")
      for (const step of ["0 seconds", "9 seconds", "1 second"] as const) {
        yield* TestClock.adjust(step)
        const now = yield* Clock.currentTimeMillis
        for (const key of ["plain", "packed", "absent"]) {
          const sync = store.getSync?.(key, now)
          assert.deepStrictEqual(Option.fromNullishOr(sync), yield* store.get(key))
        }
      }
      yield* store.set("packed", packed, "10 seconds")
      assert.strictEqual(store.getSync?.("packed", yield* Clock.currentTimeMillis), packed)
    }).pipe(Effect.provide(MemoryStore.layer)),
  )
})

import { assert, describe, it } from "@effect/vitest"
import { Store } from "@oidc-proxy/core"
import { Effect, Option } from "effect"
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
})

/**
 * The memory store's byte budget against one-time marks: a flood made the store drop its least
 * recently written entries, marks included — a source's quota slots went (its count started again,
 * so a flood that filled the budget was never refused), and so could a redeemed code's mark (a
 * replay then revoked nothing), a rotated refresh token's marker or a used assertion's `jti` (a
 * replayed `private_key_jwt` assertion was accepted). Marks are now never dropped for room; when they alone fill the budget,
 * writes fail and change nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as RegisterEndpoint from "../../src/flows/RegisterEndpoint.ts"
import * as Store from "../../src/Store.ts"
import { oauthFailure, withProxy } from "../flows/support.ts"

const valid = { redirect_uris: ["https://app.example/callback"], token_endpoint_auth_method: "none" }

const cost = (key: string, value: string) => key.length + value.length + Store.memoryEntryOverhead

describe("memory store budget - one-time marks", () => {
  it.effect("a source's quota holds when its own registrations overflow the budget", () =>
    withProxy(
      Effect.gen(function* () {
        // Each registration writes a quota slot and a client; they do not all fit in 48 KiB, so the
        // oldest entries went — the source's slots too, and its count started again.
        for (let i = 0; i < 100; i++) yield* RegisterEndpoint.register(valid, undefined, "198.51.100.7")
        // Other sources (one caller holding many addresses) push the first source's last slots out.
        for (let i = 0; i < 150; i++) yield* RegisterEndpoint.register(valid, undefined, `203.0.113.${i}`)
        for (let i = 0; i < 20; i++) {
          const refused = yield* oauthFailure(RegisterEndpoint.register(valid, undefined, "198.51.100.7"))
          assert.strictEqual(refused.error, "temporarily_unavailable", `registration ${101 + i}`)
        }
        const newest = yield* RegisterEndpoint.register(valid, undefined, "198.51.100.8")
        assert.strictEqual(newest._tag, "Json", "another source still registers: clients make room")
      }),
      { store: Store.layerMemoryWith({ maxBytes: 48 * 1024 }) },
    ),
  )

  it.effect(
    "marks outlive any flood; a rewritten mark stays one; marks alone full: the write fails, nothing changes",
    () =>
      Effect.gen(function* () {
        const value = "v".repeat(100)
        const store = yield* Store.makeMemoryWith({ maxBytes: cost("m0", value) * 4 })
        assert.isTrue(yield* store.setIfAbsent("m0", value, "1 hour"))
        assert.isTrue(yield* store.setIfAbsent("m1", value, "1 hour"))
        yield* store.set("m1", value.replace("v", "w"), "1 hour") // a marker getting its answer
        for (let i = 0; i < 50; i++) yield* store.set(`f${i}`, value, "1 hour")
        assert.strictEqual(Option.getOrUndefined(yield* store.get("m0")), value)
        assert.strictEqual(Option.getOrUndefined(yield* store.get("m1")), value.replace("v", "w"))
        assert.isTrue(Option.isSome(yield* store.get("f49")), "the flood still gets the room that is left")
        assert.isTrue(yield* store.setIfAbsent("m2", value, "1 hour"))
        assert.isTrue(yield* store.setIfAbsent("m3", value, "1 hour"))
        // Four marks fill the budget: the next write fails rather than dropping one.
        const refused = yield* Effect.flip(store.set("f50", value, "1 hour"))
        assert.strictEqual(refused._tag, "StoreError")
        const refusedMark = yield* Effect.flip(store.setIfAbsent("m4", value, "1 hour"))
        assert.strictEqual(refusedMark.operation, "setIfAbsent")
        for (const key of ["m0", "m1", "m2", "m3"]) assert.isTrue(Option.isSome(yield* store.get(key)), key)
        assert.isTrue(Option.isNone(yield* store.get("f50")))
        assert.isTrue(Option.isNone(yield* store.get("m4")))
      }),
  )
})

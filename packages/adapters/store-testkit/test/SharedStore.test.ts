import { assert, describe, it } from "@effect/vitest"
import { Store } from "@oidc-proxy/core"
import { Effect } from "effect"
import { SharedStore } from "../src/index.ts"

/** A memory store that also keeps every key and value it was given, as a server would hold them. */
const recording = () => {
  const held: Array<string> = []
  const layer = Store.layerTest((memory) => ({
    set: (key, value, ttl) => {
      held.push(key, value)
      return memory.set(key, value, ttl)
    },
  }))
  return { held, layer }
}

describe("SharedStore tokens-at-rest check", () => {
  it.effect("over a store that holds what TokenStore writes - no upstream token in clear", () =>
    Effect.gen(function* () {
      const { held, layer } = recording()
      const { written } = yield* SharedStore.writeUpstreamTokenSet(layer)
      SharedStore.assertNotInClear(written, (text) => held.some((h) => h.includes(text)), "the store")
    }),
  )

  // The check is only worth something if it fails: on a token in clear, and on a scan that sees nothing.
  it.effect("a scan holding an upstream token in clear fails, naming it", () =>
    Effect.gen(function* () {
      const { written } = yield* SharedStore.writeUpstreamTokenSet(recording().layer)
      const leaked = [written.control, `upstream:${written.id}`, written.tokens.refresh_token].join("\n")
      assert.throws(
        () => SharedStore.assertNotInClear(written, (text) => leaked.includes(text), "the store"),
        /refresh_token is in the store in clear/,
      )
    }),
  )

  it.effect("a scan that sees nothing fails: it would miss a token in clear too", () =>
    Effect.gen(function* () {
      const { written } = yield* SharedStore.writeUpstreamTokenSet(recording().layer)
      assert.throws(
        () => SharedStore.assertNotInClear(written, () => false, "the store"),
        /finds a value stored in clear/,
      )
    }),
  )
})

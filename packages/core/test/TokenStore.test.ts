/**
 * The typed collections' protection rules, in core: bearer secrets are stored only as their keyed
 * hash, values holding tokens only encrypted; and removals and upstream writes through a
 * `TokenStore` evict the verified tokens that depended on them at once (revocation wins).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as StorageKeys from "../src/StorageKeys.ts"
import * as Store from "../src/Store.ts"
import { TokenStore, layer as tokenStoreLayer } from "../src/TokenStore.ts"
import { TestProxy } from "../src/testing/index.ts"
import type { UpstreamTokenSet } from "../src/UpstreamTokenSet.ts"

const start = 1_800_000_000

/** A TokenStore over a memory store whose writes are recorded as stored (key, value). */
const recorded = Effect.gen(function* () {
  const memory = yield* Store.makeMemory
  const writes: Array<readonly [string, string]> = []
  const store: Store.StoreShape = {
    ...memory,
    set: (key, value, ttl) =>
      Effect.andThen(
        Effect.sync(() => writes.push([key, value])),
        memory.set(key, value, ttl),
      ),
  }
  const tokenStore = yield* Effect.service(TokenStore).pipe(
    Effect.provide(
      tokenStoreLayer.pipe(
        Layer.provide(Layer.succeed(Store.Store, store)),
        Layer.provide(StorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)),
      ),
    ),
  )
  return { tokenStore, writes }
})

const upstreamSet: UpstreamTokenSet = {
  id: "ts",
  access_token: "upstream-access-token-secret",
  id_token: "upstream-id-token-secret",
  refresh_token: "upstream-refresh-token-secret",
  token_type: "Bearer",
  scope: ["openid"],
  expires_at: start + 3600,
  raw: {},
}

const accessToken = {
  token: "proxy-token",
  client_id: "c1",
  subject: "u1",
  scopes: ["openid"],
  expires_at: start + 600,
  claims: { iss: "https://idp.test" },
}

describe("TokenStore", () => {
  it.effect("bearer secrets are stored as their keyed hash; upstream tokens only encrypted", () =>
    Effect.gen(function* () {
      const { tokenStore, writes } = yield* recorded
      yield* tokenStore.usedAssertions.set(
        "c1|assertion-secret",
        { client_id: "c1", expires_at: start },
        "1 hour",
      )
      yield* tokenStore.upstreamTokenSets.set("ts", upstreamSet, "1 hour")
      const [hashed, encrypted] = writes
      assert.match(hashed![0], /^assertion-jti:/)
      assert.notInclude(hashed![0], "assertion-secret")
      assert.strictEqual(encrypted![0], "upstream:ts")
      for (const secret of [
        "upstream-access-token-secret",
        "upstream-id-token-secret",
        "upstream-refresh-token-secret",
      ])
        assert.notInclude(encrypted![1], secret)
      // Both read back through the collections.
      assert.isTrue(Option.isSome(yield* tokenStore.usedAssertions.get("c1|assertion-secret")))
      assert.deepStrictEqual(yield* tokenStore.upstreamTokenSets.get("ts"), Option.some(upstreamSet))
    }),
  )

  it.effect("revoking a jti or replacing an upstream set evicts the verified tokens over it at once", () =>
    Effect.gen(function* () {
      const { tokenStore } = yield* recorded
      const cache = tokenStore.verified!
      const now = start * 1000
      const remember = (token: string, jti: string) =>
        cache.remember(
          token,
          { ...accessToken, token },
          { jti, upstreamId: "ts" },
          now + 600_000,
          now,
          cache.epoch(),
        )
      remember("t1", "j1")
      remember("t2", "j2")
      yield* tokenStore.jtiMappings.delete("j1")
      assert.isUndefined(cache.lookup("t1", now))
      assert.isDefined(cache.lookup("t2", now))
      // A refresh writes the upstream set: every token over it is verified again.
      yield* tokenStore.upstreamTokenSets.set("ts", upstreamSet, "1 hour")
      assert.isUndefined(cache.lookup("t2", now))
      // A verification that began before an eviction is not remembered (its epoch is stale).
      const epoch = cache.epoch()
      yield* tokenStore.upstreamTokenSets.delete("ts")
      cache.remember("t3", accessToken, { jti: "j3", upstreamId: "ts" }, now + 600_000, now, epoch)
      assert.isUndefined(cache.lookup("t3", now))
    }),
  )
})

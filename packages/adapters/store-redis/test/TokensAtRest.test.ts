import { NodeRedis } from "@effect/platform-node"
import { assert, it } from "@effect/vitest"
import { StorageKeys, Store, TokenStore } from "@oidc-proxy/core"
import { Effect, Layer, Option, Redacted } from "effect"
import { Redis } from "effect/persistence"
import { RedisStore } from "../src/index.ts"
import { describeWithRedis } from "../src/testing/RedisServer.ts"

describeWithRedis("RedisStore with TokenStore", (server) => {
  it.live("upstreamTokenSets - no upstream token is in Redis in clear, in any key or value", () =>
    Effect.gen(function* () {
      const tokens = {
        access_token: `upstream-access-${crypto.randomUUID()}`,
        refresh_token: `upstream-refresh-${crypto.randomUUID()}`,
        id_token: `upstream-id-${crypto.randomUUID()}`,
      }
      const id = `set-${crypto.randomUUID()}`
      const control = `control-plaintext-${crypto.randomUUID()}`
      const storage = Layer.mergeAll(
        RedisStore.layer({ url: server().url }),
        StorageKeys.layer([{ kid: "k1", secret: Redacted.make("a-storage-secret-of-at-least-32-bytes!") }]),
      )
      yield* Effect.gen(function* () {
        const { upstreamTokenSets } = yield* TokenStore.TokenStore
        yield* upstreamTokenSets.set(
          id,
          { id, ...tokens, token_type: "Bearer", scope: ["openid"], expires_at: 2e9, raw: { ...tokens } },
          "1 hour",
        )
        // Written raw: shows the scan below does see what is stored in clear.
        yield* (yield* Store.Store).set("control", control, "1 hour")
        assert.isTrue(Option.isSome(yield* upstreamTokenSets.get(id)))
      }).pipe(Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(storage))))

      const dump = yield* Effect.gen(function* () {
        const redis = yield* Redis.Redis
        const keys = yield* redis.send<Array<string>>("KEYS", "*")
        const values = yield* Effect.forEach(keys, (k) => redis.send<string>("GET", k))
        return [...keys, ...values].join("\n")
      }).pipe(Effect.provide(NodeRedis.layer({ url: server().url })))

      assert.include(dump, control, "the scan finds a value stored in clear")
      assert.include(dump, `upstream:${id}`, "the scan finds the record's key")
      for (const [name, token] of Object.entries(tokens))
        assert.notInclude(dump, token, `${name} is in Redis in clear`)
    }),
  )
})

import { NodeRedis } from "@effect/platform-node"
import { assert, it } from "@effect/vitest"
import { type OAuthError, Store } from "@oidc-proxy/core"
import { Cause, Clock, Config, ConfigProvider, Effect, Exit, Layer, Option, Schedule } from "effect"
import { Redis } from "effect/persistence"
import { RedisStore } from "../src/index.ts"
import { describeWithRedis, freePort } from "../src/testing/RedisServer.ts"

/** A raw client, to see what the store really wrote. */
const raw = <A, E>(url: string, f: (redis: Redis.Redis["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* f(yield* Redis.Redis)
  }).pipe(Effect.provide(NodeRedis.layer({ url })))

const withStore = <A, E>(f: (store: Store.StoreShape) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* f(yield* Store.Store)
  })

/** The typed failure of `exit`, asserting that there is one (not a defect, not a success). */
const storeErrorOf = <A>(exit: Exit.Exit<A, OAuthError.StoreError>): OAuthError.StoreError => {
  assert.isTrue(Exit.isFailure(exit), "the operation failed")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(error), "the failure is a typed StoreError, not a defect")
  return Option.getOrThrow(error)
}

describeWithRedis("RedisStore", (server) => {
  it.live("prefix - keys live under the prefix, and stores with other prefixes do not see them", () =>
    Effect.gen(function* () {
      const url = server().url
      yield* withStore((s) => s.set("k", "one", "1 minute")).pipe(
        Effect.provide(RedisStore.layer({ url, prefix: "app1:" })),
      )
      yield* withStore((s) => s.set("k", "default", "1 minute")).pipe(
        Effect.provide(RedisStore.layer({ url })),
      )
      const keys = yield* raw(url, (r) => r.send<Array<string>>("KEYS", "*"))
      assert.sameMembers(keys, ["app1:k", `${RedisStore.defaultPrefix}k`])
      const other = yield* withStore((s) => s.get("k")).pipe(
        Effect.provide(RedisStore.layer({ url, prefix: "app2:" })),
      )
      assert.deepStrictEqual(other, Option.none())
    }),
  )

  it.live("layerConfig - reads the url and the prefix from Config", () =>
    Effect.gen(function* () {
      const url = server().url
      yield* withStore((s) => s.set("configured", "v", "1 minute")).pipe(
        Effect.provide(
          RedisStore.layerConfig({
            url: Config.String("REDIS_URL"),
            prefix: Config.String("REDIS_PREFIX"),
          }).pipe(
            Layer.provide(
              ConfigProvider.layer(ConfigProvider.fromUnknown({ REDIS_URL: url, REDIS_PREFIX: "cfg:" })),
            ),
          ),
        ),
      )
      const value = yield* raw(url, (r) => r.send<string | null>("GET", "cfg:configured"))
      assert.strictEqual(value, "v")
    }),
  )

  it.live("set - the TTL is Redis's own, in milliseconds", () =>
    Effect.gen(function* () {
      const url = server().url
      yield* withStore((s) => s.set("ttl", "v", "90 seconds")).pipe(Effect.provide(RedisStore.layer({ url })))
      const pttl = yield* raw(url, (r) => r.send<number>("PTTL", `${RedisStore.defaultPrefix}ttl`))
      assert.isAbove(pttl, 85_000)
      assert.isAtMost(pttl, 90_000)
    }),
  )

  it.live("layer - an unreachable server fails the layer build with RedisError", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const exit = yield* Effect.exit(
        withStore(() => Effect.void).pipe(
          Effect.provide(RedisStore.layer({ url: `redis://127.0.0.1:${port}` })),
        ),
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
      assert.strictEqual(Option.getOrThrow(error)._tag, "RedisError")
    }),
  )

  it.live(
    "outage - while the server is down every operation fails fast with StoreError; after a restart they succeed again",
    () =>
      Effect.gen(function* () {
        const s = yield* Store.Store
        yield* s.set("session", "before", "1 minute")
        yield* Effect.promise(() => server().stop("SIGKILL"))

        const started = yield* Clock.currentTimeMillis
        const failures = [
          storeErrorOf(yield* Effect.exit(s.get("session"))),
          storeErrorOf(yield* Effect.exit(s.set("session", "secret-value", "1 minute"))),
          storeErrorOf(yield* Effect.exit(s.delete("session"))),
          storeErrorOf(yield* Effect.exit(s.take("session"))),
        ]
        const elapsed = (yield* Clock.currentTimeMillis) - started
        assert.isBelow(elapsed, 3_000, "failing takes no longer than the command timeout")
        assert.deepStrictEqual(
          failures.map((e) => e.operation),
          ["get", "set", "delete", "take"],
        )
        for (const e of failures) {
          assert.notInclude(e.description, "session")
          assert.notInclude(e.description, "secret-value")
        }

        yield* Effect.promise(() => server().start())
        // The client reconnects with backoff capped near 2 s; a fresh server has no data.
        yield* s
          .set("session", "after", "1 minute")
          .pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 80 }))
        assert.deepStrictEqual(yield* s.get("session"), Option.some("after"))
        assert.deepStrictEqual(yield* s.take("session"), Option.some("after"))
      }).pipe(
        Effect.provide(Layer.unwrap(Effect.sync(() => RedisStore.layer({ url: server().url })))),
        Effect.timeout("15 seconds"),
      ),
    20_000,
  )
})

/**
 * Revocation across instances over a real redis-server: two proxy instances (`TokenStore` with its
 * verified-token cache, each with its own `RedisStore.layer`, i.e. its own client and subscriber)
 * share one Redis. The cache TTL is 300 s, so a refusal by the instance that did not revoke can
 * only come from the invalidation channel: every wait below is bounded far below it (10 s for the
 * message, 20 s for a reconnection). Also: a subscriber that reconnects (connection killed, or
 * redis-server restarted) clears the cache, and a malformed message is ignored.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeRedis } from "@effect/platform-node"
import { assert, it } from "@effect/vitest"
import { CacheInvalidation, type LoadAccessToken, TokenStore } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Clock, Effect, Layer, Logger, Schedule } from "effect"
import { Redis } from "effect/persistence"
import { RedisCacheInvalidation, RedisStore } from "../src/index.ts"
import {
  describeIfAvailable,
  describeWithRedis,
  freePort,
  make as redisServer,
} from "../src/testing/RedisServer.ts"

const tokenStore = Effect.gen(function* () {
  return yield* TokenStore.TokenStore
})

/** Far below the 300 s cache TTL: how long the other instance may take to refuse. */
const boundMs = 10_000

/** Two instances on one Redis (key prefix `prefix`), and a session issued through `a`. */
const twoInstances = (url: string, prefix: string) =>
  Effect.gen(function* () {
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const upstream = yield* TestUpstream.make()
    const idToken = yield* upstream.sign({ sub: "u1", aud: upstream.clientId, exp: now + 3600 }, { now })
    const config = TestProxy.config(upstream, { verification_mode: "id_token", cache_ttl_seconds: 300 })
    const instance = () =>
      TestProxy.layer(upstream, config, RedisStore.layer({ url, prefix }).pipe(Layer.orDie))
    const a = yield* Layer.build(instance())
    const b = yield* Layer.build(instance())
    const issued = yield* TestProxy.issueSession(idToken, now + 3600).pipe(Effect.provideContext(a))
    const on = <X, E>(context: typeof a, effect: Effect.Effect<X, E, LoadAccessToken.Requirements>) =>
      Effect.provideContext(effect, context)
    const decision = (context: typeof a) => on(context, TestProxy.verdict(issued.access_token))
    const cached = (context: typeof a) =>
      on(
        context,
        Effect.map(tokenStore, (s) => s.verified?.size() ?? -1),
      )
    const revokeOn = (context: typeof a) =>
      on(
        context,
        Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
      )
    return { a, b, issued, decision, cached, revokeOn }
  })

/** Polls `check` every 20 ms until it holds; fails after `ms`. Returns how long it took. */
const within = (ms: number, what: string, check: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    yield* check.pipe(
      Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail("not yet" as const))),
      Effect.retry(Schedule.spaced("20 millis")),
      Effect.timeoutOrElse({
        duration: ms,
        orElse: () => Effect.die(new Error(`not within ${ms} ms: ${what}`)),
      }),
    )
    return (yield* Clock.currentTimeMillis) - started
  })

const revoked = "The access token is unknown or was revoked"

/** Log lines of the malformed-message test. */
const logged: Array<string> = []

const raw = <A, E>(url: string, f: (redis: Redis.Redis["Service"]) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* f(yield* Redis.Redis)
  }).pipe(Effect.provide(NodeRedis.layer({ url })))

describeWithRedis("RedisCacheInvalidation", (server) => {
  it.live(
    "revoke on A - B refuses within the bound, long before its cache TTL",
    () =>
      Effect.gen(function* () {
        const { a, b, decision, cached, revokeOn } = yield* twoInstances(server().url, "inv1:")
        assert.strictEqual(yield* decision(a), "allow")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        yield* revokeOn(a)
        assert.strictEqual(yield* decision(a), revoked, "the revoking instance refuses at once")
        const took = yield* within(
          boundMs,
          "B refuses",
          Effect.map(decision(b), (d) => d === revoked),
        )
        assert.isBelow(took, boundMs)
        assert.strictEqual(yield* cached(b), 0)
      }).pipe(Effect.scoped),
    30_000,
  )

  it.live(
    "an upstream token set rewritten on A (a refresh) evicts B's tokens of that set",
    () =>
      Effect.gen(function* () {
        const { a, b, decision, cached } = yield* twoInstances(server().url, "inv2:")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        yield* Effect.provideContext(
          Effect.flatMap(tokenStore, (s) => s.upstreamTokenSets.delete("ts")),
          a,
        )
        yield* within(
          boundMs,
          "B evicts",
          Effect.map(cached(b), (n) => n === 0),
        )
      }).pipe(Effect.scoped),
    30_000,
  )

  it.live(
    "a malformed message on the channel is ignored; the channel keeps working",
    () =>
      Effect.gen(function* () {
        const url = server().url
        logged.length = 0
        const { b, issued, decision, cached } = yield* twoInstances(url, "inv3:")
        assert.strictEqual(yield* decision(b), "allow")
        const channel = RedisCacheInvalidation.channel("inv3:")
        const foreign = (evict: CacheInvalidation.Eviction) =>
          CacheInvalidation.encodeMessage({ origin: "another-instance", evict })
        yield* raw(url, (r) =>
          Effect.forEach(
            [
              "garbage",
              "{}",
              JSON.stringify({ origin: "x", evict: { kind: "everything", id: "*" } }),
              // Would evict, but is longer than any message could be: ignored unparsed.
              JSON.stringify({
                origin: "another-instance",
                evict: { kind: "jti", id: issued.jti },
                pad: "p".repeat(100_000),
              }),
              foreign({ kind: "jti", id: "some-other-jti" }),
            ],
            (message) => r.send("PUBLISH", channel, message),
          ),
        )
        // Messages arrive in order: once a later valid one is handled, the bad ones were too.
        yield* raw(url, (r) => r.send("PUBLISH", channel, foreign({ kind: "jti", id: issued.jti })))
        yield* within(
          boundMs,
          "the valid message evicts",
          Effect.map(cached(b), (n) => n === 0),
        )
        assert.strictEqual(yield* decision(b), "allow", "the token itself was never revoked")
        assert.strictEqual(yield* cached(b), 1)
        // Each instance logs each of the four bad messages (A's may still be on their way), never its text.
        yield* within(
          boundMs,
          "both instances logged the four bad messages",
          Effect.sync(() => logged.filter((line) => line.includes("ignored a message")).length === 8),
        )
        for (const line of logged) assert.notInclude(line, "garbage")
      }).pipe(
        Effect.scoped,
        Effect.provide(Logger.layer([Logger.make((options) => void logged.push(String(options.message)))])),
      ),
    30_000,
  )

  it.live(
    "subscriber reconnect - killed subscriber connections come back with an empty cache, and hear again",
    () =>
      Effect.gen(function* () {
        const url = server().url
        const { a, b, decision, cached, revokeOn } = yield* twoInstances(url, "inv4:")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        // Only the pub/sub connections are dropped: the store itself stays reachable.
        yield* raw(url, (r) => r.send("CLIENT", "KILL", "TYPE", "pubsub"))
        yield* within(
          20_000,
          "B's cache is cleared on resubscribe",
          Effect.map(cached(b), (n) => n === 0),
        )
        assert.strictEqual(yield* decision(b), "allow")
        yield* within(
          20_000,
          "A is subscribed again",
          raw(url, (r) =>
            Effect.map(
              r.send<Array<unknown>>("PUBSUB", "NUMSUB", RedisCacheInvalidation.channel("inv4:")),
              (reply) => Number(reply[1]) === 2,
            ),
          ),
        )
        yield* revokeOn(a)
        yield* within(
          boundMs,
          "B refuses",
          Effect.map(decision(b), (d) => d === revoked),
        )
      }).pipe(Effect.scoped),
    60_000,
  )

  it.live(
    "scope closed - both subscriber connections are closed with their instances",
    () =>
      Effect.gen(function* () {
        const url = server().url
        const subscribers = raw(url, (r) =>
          Effect.map(
            r.send<Array<unknown>>("PUBSUB", "NUMSUB", RedisCacheInvalidation.channel("inv6:")),
            (reply) => Number(reply[1]),
          ),
        )
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* twoInstances(url, "inv6:")
            assert.strictEqual(yield* subscribers, 2)
          }),
        )
        yield* within(
          boundMs,
          "no subscriber left",
          Effect.map(subscribers, (n) => n === 0),
        )
      }),
    30_000,
  )
})

describeIfAvailable("RedisCacheInvalidation across a redis-server restart", () => {
  it.live(
    "the server restarts (append-only file kept) - B's cache is cleared, revocations are heard again",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "redis-inv-"))),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        const server = redisServer(yield* Effect.promise(freePort), { dir })
        yield* Effect.acquireRelease(
          Effect.promise(() => server.start()),
          () => Effect.promise(() => server.stop()),
        )
        const { a, b, decision, cached, revokeOn } = yield* twoInstances(server.url, "inv5:")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        yield* Effect.promise(() => server.stop("SIGKILL"))
        yield* Effect.promise(() => server.start())
        yield* within(
          20_000,
          "B's cache is cleared once it is subscribed again",
          Effect.map(cached(b), (n) => n === 0),
        )
        // The data survived; B verifies from the store again (its main client reconnects by itself).
        yield* within(
          20_000,
          "B allows from the store",
          Effect.map(
            Effect.orElseSucceed(decision(b), () => "error"),
            (d) => d === "allow",
          ),
        )
        yield* within(
          20_000,
          "A is subscribed again",
          Effect.map(
            Effect.orElseSucceed(
              raw(server.url, (r) =>
                r.send<Array<unknown>>("PUBSUB", "NUMSUB", RedisCacheInvalidation.channel("inv5:")),
              ),
              () => [] as Array<unknown>,
            ),
            (reply) => Number(reply[1]) === 2,
          ),
        )
        yield* Effect.retry(revokeOn(a), { schedule: Schedule.spaced("100 millis"), times: 100 })
        yield* within(
          boundMs,
          "B refuses",
          Effect.map(decision(b), (d) => d === revoked),
        )
      }).pipe(Effect.scoped),
    90_000,
  )
})

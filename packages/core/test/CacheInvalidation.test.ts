/**
 * Cross-instance invalidation: two `TokenStore`s over one store and one `CacheInvalidation`
 * channel (the in-process bus) — a revocation through one is refused by the other at once, with a
 * cache TTL (300 s) that could not have expired; malformed or own messages are ignored; a reset
 * clears the cache. The races are forced with a store that holds one read or write until released:
 * a check in flight on the other instance when the eviction arrives does not re-insert the token,
 * and the eviction is published only once the store write is done (a check the other instance runs
 * meanwhile cannot re-insert the old record for its whole cache TTL). Without a channel the other
 * instance's bound stays the cache TTL (`VerifiedTokenCache.test.ts`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, Option } from "effect"
import { TestClock } from "effect/testing"
import * as CacheInvalidation from "../src/CacheInvalidation.ts"
import type * as LoadAccessToken from "../src/LoadAccessToken.ts"
import * as Store from "../src/Store.ts"
import { TokenStore } from "../src/TokenStore.ts"
import { TestProxy, TestUpstream } from "../src/testing/index.ts"

const start = 1_800_000_000

const tokenStore = Effect.gen(function* () {
  return yield* TokenStore
})

/** Wraps a store so that its `operation` on a key that `matches`, once armed, waits until released. */
const holding = (operation: "get" | "delete", matches: (key: string) => boolean) =>
  Effect.gen(function* () {
    const reached = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    let armed = false
    const hold = <A, E>(k: string, effect: Effect.Effect<A, E>) =>
      armed && matches(k)
        ? Effect.andThen(
            Deferred.succeed(reached, undefined),
            Effect.andThen(Deferred.await(release), effect),
          )
        : effect
    return {
      // No `getSync`: every check takes the Effect path, where the hold can land.
      wrap: (inner: Store.StoreShape): Store.StoreShape => ({
        get: (k) => (operation === "get" ? hold(k, inner.get(k)) : inner.get(k)),
        set: inner.set,
        delete: (k) => (operation === "delete" ? hold(k, inner.delete(k)) : inner.delete(k)),
        take: inner.take,
        setIfAbsent: inner.setIfAbsent,
      }),
      arm: () => {
        armed = true
      },
      reached: Deferred.await(reached),
      release: Deferred.succeed(release, undefined),
    }
  })

/** Two instances over one store and one channel; a session issued through `b`. */
const twoInstances = (
  channel: Layer.Layer<never>,
  stores: {
    readonly a?: (shared: Store.StoreShape) => Store.StoreShape
    readonly b?: (shared: Store.StoreShape) => Store.StoreShape
  } = {},
) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(start * 1000)
    const upstream = yield* TestUpstream.make()
    const idToken = yield* upstream.sign(
      { sub: "u1", aud: upstream.clientId, exp: start + 3600 },
      { now: start },
    )
    const config = TestProxy.config(upstream, { verification_mode: "id_token", cache_ttl_seconds: 300 })
    const shared = yield* Store.makeMemory
    const bus = yield* Layer.build(channel)
    const instance = (store: Store.StoreShape) =>
      TestProxy.layer(
        upstream,
        config,
        Layer.merge(Layer.succeed(Store.Store, store), Layer.succeedContext(bus)),
      )
    const a = yield* Layer.build(instance(stores.a?.(shared) ?? shared))
    const b = yield* Layer.build(instance(stores.b?.(shared) ?? shared))
    const issued = yield* TestProxy.issueSession(idToken, start + 3600).pipe(Effect.provideContext(b))
    const on = <X>(context: typeof a, effect: Effect.Effect<X, unknown, LoadAccessToken.Requirements>) =>
      Effect.provideContext(effect, context)
    const decision = (context: typeof a) => on(context, TestProxy.verdict(issued.access_token))
    const cached = (context: typeof a) =>
      on(
        context,
        Effect.map(tokenStore, (s) => s.verified?.size() ?? -1),
      )
    return { a, b, shared, issued, on, decision, cached }
  })

describe("CacheInvalidation", () => {
  it.effect("revocation - the other instance refuses at once, long before its cache TTL", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b, issued, on, decision, cached } = yield* twoInstances(CacheInvalidation.layerMemory)
        assert.strictEqual(yield* decision(a), "allow")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(a), 1)
        // What /revoke does for an access token, on instance b; no clock moves.
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
        )
        assert.strictEqual(yield* cached(a), 0)
        assert.strictEqual(yield* decision(a), "The access token is unknown or was revoked")
        assert.strictEqual(yield* decision(b), "The access token is unknown or was revoked")
      }),
    ),
  )

  it.effect("an upstream token set rewritten or deleted on one instance evicts its tokens on the other", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b, on, decision, cached } = yield* twoInstances(CacheInvalidation.layerMemory)
        assert.strictEqual(yield* decision(a), "allow")
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) => s.upstreamTokenSets.delete("ts")),
        )
        assert.strictEqual(yield* cached(a), 0)
        assert.strictEqual(
          yield* decision(a),
          "The upstream session behind the access token no longer exists",
        )
      }),
    ),
  )

  it.effect(
    "epoch guard - a check in flight on the other instance when the eviction arrives does not re-insert",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const hold = yield* holding("get", (key) => key === "upstream:ts")
          const { a, b, issued, on, decision, cached } = yield* twoInstances(CacheInvalidation.layerMemory, {
            a: hold.wrap,
          })
          // A's cold check has read the jti mapping and waits on the upstream token set read.
          hold.arm()
          const inFlight = yield* Effect.forkChild(decision(a))
          yield* hold.reached
          yield* on(
            b,
            Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
          )
          yield* hold.release
          // It read the mapping before the revocation, so it may answer allow; it must not remember.
          assert.strictEqual(yield* Fiber.join(inFlight), "allow")
          assert.strictEqual(yield* cached(a), 0)
          assert.strictEqual(yield* decision(a), "The access token is unknown or was revoked")
        }),
      ),
  )

  it.effect(
    "publish after the write - a check on the other instance meanwhile cannot re-insert the old record",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const hold = yield* holding("delete", (key) => key.startsWith("jti:"))
          const { a, b, issued, on, decision, cached } = yield* twoInstances(CacheInvalidation.layerMemory, {
            b: hold.wrap,
          })
          assert.strictEqual(yield* decision(a), "allow")
          // B's revocation waits in the store write; A checks meanwhile (were A told before the write,
          // it would read the mapping again here and remember it for its 300 s TTL).
          hold.arm()
          const revoking = yield* Effect.forkChild(
            on(
              b,
              Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
            ),
          )
          yield* hold.reached
          assert.strictEqual(yield* decision(a), "allow")
          yield* hold.release
          yield* Fiber.join(revoking)
          assert.strictEqual(yield* cached(a), 0)
          assert.strictEqual(yield* decision(a), "The access token is unknown or was revoked")
        }),
      ),
  )

  it.effect("none (the default) - the other instance keeps its entry until its cache TTL", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b, issued, on, decision } = yield* twoInstances(Layer.empty)
        assert.strictEqual(yield* decision(a), "allow")
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
        )
        assert.strictEqual(yield* decision(a), "allow")
        yield* TestClock.adjust("300 seconds")
        assert.strictEqual(yield* decision(a), "The access token is unknown or was revoked")
      }),
    ),
  )

  it.effect("on the wire - the ids a store already holds in its keys, and the publisher's member id", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const sent: Array<string> = []
        const spy = Layer.succeed(CacheInvalidation.CacheInvalidation, {
          join: () =>
            Effect.succeed({
              publish: (evict) =>
                Effect.sync(() => void sent.push(CacheInvalidation.encodeMessage({ origin: "spy", evict }))),
            }),
        })
        const { b, shared, issued, on } = yield* twoInstances(spy)
        const keysBefore = new Set([`jti:${issued.jti}`, "upstream:ts"])
        for (const key of keysBefore) assert.isTrue(Option.isSome(yield* shared.get(key)), key)
        sent.length = 0
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) =>
            Effect.andThen(s.jtiMappings.delete(issued.jti), s.upstreamTokenSets.delete("ts")),
          ),
        )
        const messages = sent.map((text) => Option.getOrThrow(CacheInvalidation.decodeMessage(text)))
        assert.deepStrictEqual(
          messages.map((m) => `${m.evict.kind}:${m.evict.id}`),
          [...keysBefore],
        )
      }),
    ),
  )

  it.effect("members - malformed messages and a member's own are ignored; reset reaches everyone", () =>
    Effect.scoped(
      Effect.gen(function* () {
        let n = 0
        const members = CacheInvalidation.makeMembers(() => `m${++n}`)
        const heard: Array<string> = []
        const listener = (name: string): CacheInvalidation.Listener => ({
          evict: (e) => void heard.push(`${name} ${e.kind}:${e.id}`),
          reset: () => void heard.push(`${name} reset`),
        })
        const first = yield* members.add(listener("first"))
        yield* members.add(listener("second"))
        for (const bad of [
          "",
          "not json",
          "{}",
          42,
          null,
          JSON.stringify({ origin: "x", evict: { kind: "client", id: "c" } }),
          JSON.stringify({ origin: "x", evict: { kind: "jti", id: "" } }),
          JSON.stringify({ origin: "x", evict: { kind: "jti", id: "j".repeat(513) } }),
          JSON.stringify({ origin: "", evict: { kind: "jti", id: "j" } }),
          // Valid, but longer than any message could be: not even parsed.
          JSON.stringify({ origin: "x", evict: { kind: "jti", id: "j" }, pad: "p".repeat(5000) }),
        ])
          assert.isFalse(members.deliver(bad), String(bad))
        assert.deepStrictEqual(heard, [])
        assert.isTrue(
          members.deliver(
            CacheInvalidation.encodeMessage({ origin: first, evict: { kind: "jti", id: "j1" } }),
          ),
        )
        assert.deepStrictEqual(heard, ["second jti:j1"])
        members.reset()
        assert.deepStrictEqual(heard, ["second jti:j1", "first reset", "second reset"])
        // The longest message that encodes is still heard (ids escaped as \uXXXX included).
        const longest = CacheInvalidation.encodeMessage({
          origin: "\u0001".repeat(64),
          evict: { kind: "upstream", id: "\u0001".repeat(512) },
        })
        assert.isAtMost(longest.length, CacheInvalidation.maxMessageLength)
        assert.isTrue(members.deliver(longest))
      }),
    ),
  )

  it.effect("members - a member whose scope closed hears nothing more", () =>
    Effect.gen(function* () {
      const members = CacheInvalidation.makeMembers(() => "m")
      const heard: Array<string> = []
      yield* Effect.scoped(
        members.add({ evict: (e) => void heard.push(e.id), reset: () => void heard.push("reset") }),
      )
      members.deliver(CacheInvalidation.encodeMessage({ origin: "other", evict: { kind: "jti", id: "j1" } }))
      members.reset()
      assert.deepStrictEqual(heard, [])
    }),
  )

  it.effect(
    "publisher - never fails: an id that does not fit a message, or a failed send, is logged without the id",
    () =>
      Effect.gen(function* () {
        const logged: Array<string> = []
        const sent: Array<string> = []
        const ok = CacheInvalidation.publisher(
          "o",
          (text) => Effect.sync(() => void sent.push(text)),
          () => "unused",
        )
        const failing = CacheInvalidation.publisher(
          "o",
          () => Effect.fail({ code: "ECONNRESET" }),
          (e) => e.code,
        )
        yield* Effect.gen(function* () {
          yield* ok({ kind: "jti", id: "j1" })
          yield* ok({ kind: "jti", id: "secret-looking-id".repeat(40) })
          yield* ok({ kind: "jti", id: "" })
          yield* failing({ kind: "upstream", id: "u1" })
        }).pipe(Effect.provide(Logger.layer([Logger.make((o) => void logged.push(String(o.message)))])))
        assert.deepStrictEqual(sent, [
          CacheInvalidation.encodeMessage({ origin: "o", evict: { kind: "jti", id: "j1" } }),
        ])
        assert.deepStrictEqual(logged, [
          "cache invalidation: an eviction whose id does not fit a message was not sent",
          "cache invalidation: an eviction whose id does not fit a message was not sent",
          "cache invalidation: publish failed: ECONNRESET",
        ])
      }),
  )
})

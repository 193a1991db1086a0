/**
 * Cross-instance invalidation: two `TokenStore`s over one store and one `CacheInvalidation`
 * channel (the in-process bus) — a revocation through one is refused by the other at once, with a
 * cache TTL (300 s) that could not have expired; malformed or own messages are ignored; a reset
 * clears the cache. Without a channel the other instance's bound stays the cache TTL
 * (`VerifiedTokenCache.test.ts`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as CacheInvalidation from "../src/CacheInvalidation.ts"
import { issueAccessToken } from "../src/IssueAccessToken.ts"
import * as LoadAccessToken from "../src/LoadAccessToken.ts"
import * as Store from "../src/Store.ts"
import { TokenStore } from "../src/TokenStore.ts"
import { TestProxy, TestUpstream } from "../src/testing/index.ts"

const start = 1_800_000_000

const tokenStore = Effect.gen(function* () {
  return yield* TokenStore
})

/** Two instances over one store and one channel; a session issued through `b`. */
const twoInstances = (channel: Layer.Layer<never>) =>
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
    const instance = () =>
      TestProxy.layer(
        upstream,
        config,
        Layer.merge(Layer.succeed(Store.Store, shared), Layer.succeedContext(bus)),
      )
    const a = yield* Layer.build(instance())
    const b = yield* Layer.build(instance())
    const issued = yield* Effect.gen(function* () {
      const store = yield* TokenStore
      yield* store.upstreamTokenSets.set(
        "ts",
        {
          id: "ts",
          access_token: "opaque",
          id_token: idToken,
          token_type: "Bearer",
          scope: ["openid"],
          expires_at: start + 3600,
          raw: {},
        },
        "2 hours",
      )
      return yield* issueAccessToken({
        upstream_token_set_id: "ts",
        client_id: "c1",
        subject: "u1",
        scopes: ["openid"],
        lifetime: 3600,
      })
    }).pipe(Effect.provideContext(b))
    const on = <X>(context: typeof a, effect: Effect.Effect<X, unknown, LoadAccessToken.Requirements>) =>
      Effect.provideContext(effect, context)
    const decision = (context: typeof a) =>
      on(
        context,
        Effect.map(LoadAccessToken.check(issued.access_token), (d) =>
          d._tag === "Allow" ? "allow" : d.description,
        ),
      )
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
      }),
    ),
  )
})

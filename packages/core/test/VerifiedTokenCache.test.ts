import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type { AccessToken } from "../src/AccessToken.ts"
import * as LoadAccessToken from "../src/LoadAccessToken.ts"
import { Settings } from "../src/ProxyConfig.ts"
import * as Store from "../src/Store.ts"
import { TokenStore } from "../src/TokenStore.ts"
import { TestProxy, TestUpstream } from "../src/testing/index.ts"
import * as VerifiedTokenCache from "../src/VerifiedTokenCache.ts"

const token = (subject: string): AccessToken => ({
  token: subject,
  client_id: "c1",
  subject,
  scopes: ["openid"],
  expires_at: 2_000_000_000,
  claims: { iss: "https://idp.test" },
})

describe("VerifiedTokenCache", () => {
  it("remember - lives until the earliest of notAfter and the TTL", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries: 10 })
    cache.remember("a", token("a"), { jti: "ja", upstreamId: "u" }, 3000, 0, cache.epoch())
    cache.remember("b", token("b"), { jti: "jb", upstreamId: "u" }, 60_000, 0, cache.epoch())
    assert.strictEqual(cache.lookup("a", 2999)?.subject, "a")
    assert.isUndefined(cache.lookup("a", 3000))
    assert.strictEqual(cache.lookup("b", 4999)?.subject, "b")
    assert.isUndefined(cache.lookup("b", 5000))
    assert.strictEqual(cache.size(), 0)
  })

  it("remember - bounded: the oldest entry goes first", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries: 3 })
    for (const t of ["a", "b", "c", "d"])
      cache.remember(t, token(t), { jti: `j${t}`, upstreamId: t }, 9e9, 0, 0)
    assert.strictEqual(cache.size(), 3)
    assert.isUndefined(cache.lookup("a", 1))
    assert.strictEqual(cache.lookup("d", 1)?.subject, "d")
  })

  it("evict - by jti and by upstream token set; an eviction during a verification wins", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries: 10 })
    cache.remember("a", token("a"), { jti: "ja", upstreamId: "u1" }, 9e9, 0, cache.epoch())
    cache.remember("b", token("b"), { jti: "jb", upstreamId: "u1" }, 9e9, 0, cache.epoch())
    cache.remember("c", token("c"), { jti: "jc", upstreamId: "u2" }, 9e9, 0, cache.epoch())
    cache.evictJti("jc")
    assert.isUndefined(cache.lookup("c", 1))
    cache.evictUpstream("u1")
    assert.strictEqual(cache.size(), 0)
    const before = cache.epoch()
    cache.evictJti("jd") // a revocation lands while "d" is being verified
    cache.remember("d", token("d"), { jti: "jd", upstreamId: "u3" }, 9e9, 0, before)
    assert.isUndefined(cache.lookup("d", 1))
  })

  it("evict - agrees with a plain model on random remember/evict sequences (several tokens per jti and per upstream)", () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant("remember" as const), t: fc.nat(5), j: fc.nat(3), u: fc.nat(2) }),
      fc.record({ op: fc.constant("jti" as const), j: fc.nat(5) }),
      fc.record({ op: fc.constant("upstream" as const), u: fc.nat(2) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), fc.integer({ min: 1, max: 8 }), (ops, maxEntries) => {
        const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries })
        // The model: token → links, insertion order kept (the oldest goes first when full).
        const model = new Map<string, { readonly jti: string; readonly upstreamId: string }>()
        for (const o of ops) {
          if (o.op === "remember") {
            const t = `t${o.t}`
            // Tokens share jtis (spellings of one signature) and upstream token sets.
            const links = { jti: `j${o.j}`, upstreamId: `u${o.u}` }
            cache.remember(t, token(t), links, 60_000, 0, cache.epoch())
            model.delete(t)
            while (model.size >= maxEntries) model.delete(model.keys().next().value!)
            model.set(t, links)
          } else if (o.op === "jti") {
            cache.evictJti(`j${o.j}`)
            for (const [t, l] of [...model]) if (l.jti === `j${o.j}`) model.delete(t)
          } else {
            cache.evictUpstream(`u${o.u}`)
            for (const [t, l] of [...model]) if (l.upstreamId === `u${o.u}`) model.delete(t)
          }
          assert.strictEqual(cache.size(), model.size)
          for (let i = 0; i < 6; i++)
            assert.strictEqual(cache.lookup(`t${i}`, 1) !== undefined, model.has(`t${i}`))
        }
      }),
      { numRuns: 500 },
    )
  })

  it("disabled - remembers nothing", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 0, maxEntries: 10 })
    cache.remember("a", token("a"), { jti: "ja", upstreamId: "u" }, 9e9, 0, 0)
    assert.isUndefined(cache.lookup("a", 1))
  })

  it("hit - the entry holds the token's expiry, resource and scopes; equal values are shared", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries: 10 })
    const a = { ...token("a"), resource: "https://rs.test/mcp", scopes: ["openid", "tools"] }
    // Equal values, distinct objects (as two sessions decode them).
    const b = { ...token("b"), resource: `https://rs.test/${"mcp"}`, scopes: ["openid", "tools"] }
    cache.remember("a", a, { jti: "ja", upstreamId: "u" }, 9e9, 0, cache.epoch())
    cache.remember("b", b, { jti: "jb", upstreamId: "u" }, 9e9, 0, cache.epoch())
    const hitA = cache.hit("a", 1)!
    const hitB = cache.hit("b", 1)!
    assert.strictEqual(hitA.accessToken, a)
    assert.strictEqual(hitA.expires_at, a.expires_at)
    assert.strictEqual(hitA.resource, "https://rs.test/mcp")
    assert.deepStrictEqual(hitA.scopes, ["openid", "tools"])
    assert.strictEqual(hitB.scopes, hitA.scopes)
    // Shared between sessions, so nobody may change it.
    assert.isTrue(Object.isFrozen(hitA.scopes))
    assert.strictEqual(cache.lookup("b", 1), b)
  })

  it("hit - an expired entry is dropped on the hit, whatever the token's own expiry", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries: 10 })
    cache.remember("a", token("a"), { jti: "ja", upstreamId: "u" }, 3000, 0, cache.epoch())
    assert.isDefined(cache.hit("a", 2999))
    assert.isUndefined(cache.hit("a", 3000))
    assert.strictEqual(cache.size(), 0)
    assert.isUndefined(cache.lookup("a", 1))
  })

  it("hit - past the bound on shared values an entry keeps its own copy (same value)", () => {
    const cache = VerifiedTokenCache.make({ ttlMillis: 5000, maxEntries: 1000 })
    for (let i = 0; i < 300; i++)
      cache.remember(
        `t${i}`,
        { ...token(`t${i}`), resource: `r${i}` },
        { jti: `j${i}`, upstreamId: "u" },
        9e9,
        0,
        0,
      )
    for (let i = 0; i < 300; i++) assert.strictEqual(cache.hit(`t${i}`, 1)?.resource, `r${i}`)
    cache.remember("x", { ...token("x"), resource: "r299" }, { jti: "jx", upstreamId: "u" }, 9e9, 0, 0)
    assert.strictEqual(cache.hit("x", 1)?.resource, "r299")
  })
})

const start = 1_800_000_000

const tokenStore = Effect.gen(function* () {
  return yield* TokenStore
})
const settingsService = Effect.gen(function* () {
  return yield* Settings
})

/** Two proxy instances (own caches) over one shared store, and a session issued through `b`. */
const twoInstances = Effect.gen(function* () {
  yield* TestClock.setTime(start * 1000)
  const upstream = yield* TestUpstream.make()
  const idToken = yield* upstream.sign(
    { sub: "u1", aud: upstream.clientId, exp: start + 3600 },
    { now: start },
  )
  const config = TestProxy.config(upstream, { verification_mode: "id_token" })
  const shared = yield* Store.makeMemory
  const instance = () => TestProxy.layer(upstream, config, Layer.succeed(Store.Store, shared))
  const a = yield* Layer.build(instance())
  const b = yield* Layer.build(instance())
  const issued = yield* TestProxy.issueSession(idToken, start + 3600).pipe(Effect.provideContext(b))
  const on = <X>(context: typeof a, effect: Effect.Effect<X, unknown, LoadAccessToken.Requirements>) =>
    Effect.provideContext(effect, context)
  const decision = (context: typeof a) => on(context, TestProxy.verdict(issued.access_token))
  return { a, b, issued, on, decision }
})

describe("LoadAccessToken with the verified-token cache", () => {
  it.effect("a warm token is answered from the cache, synchronously too", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, issued, on, decision } = yield* twoInstances
        assert.strictEqual(yield* decision(a), "allow")
        const { store, settings } = yield* on(a, Effect.all({ store: tokenStore, settings: settingsService }))
        assert.strictEqual(store.verified?.size(), 1)
        const fast = LoadAccessToken.makeCachedCheck(settings, store)
        assert.strictEqual(fast(issued.access_token, start * 1000)?._tag, "Allow")
        assert.isUndefined(fast(`${issued.access_token}x`, start * 1000))
        assert.strictEqual(fast(undefined, start * 1000)?._tag, "Deny")
        const scoped = fast(issued.access_token, start * 1000, ["tools:write"])
        assert.strictEqual(scoped?._tag === "Deny" ? scoped.status : 0, 403)
        // Past the token's expiry (plus leeway) the cached entry is gone and the check refuses.
        assert.isUndefined(fast(issued.access_token, (start + 3600) * 1000))
      }),
    ),
  )

  it.effect(
    "a warm hit is decided on the entry: expiry, resource and scopes re-checked, the same AccessToken allowed",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { a, on } = yield* twoInstances
          const { store, settings } = yield* on(
            a,
            Effect.all({ store: tokenStore, settings: settingsService }),
          )
          const fast = LoadAccessToken.makeCachedCheck(settings, store)
          const cache = store.verified!
          const mine = {
            ...token("x"),
            resource: settings.resource,
            scopes: ["openid"],
            expires_at: start + 60,
          }
          // Entries that outlive their token's expiry or name another resource cannot come from the
          // pipeline; put here by hand, they show the check does not trust the entry's presence.
          cache.remember("mine", mine, { jti: "j1", upstreamId: "u1" }, 9e15, start * 1000, cache.epoch())
          const other = { ...mine, resource: "https://elsewhere.test/mcp" }
          cache.remember("other", other, { jti: "j2", upstreamId: "u2" }, 9e15, start * 1000, cache.epoch())
          // Expired longer ago than any clock tolerance (at most 300 s).
          const stale = { ...mine, expires_at: start - 301 }
          cache.remember("stale", stale, { jti: "j3", upstreamId: "u3" }, 9e15, start * 1000, cache.epoch())
          const allowed = fast("mine", start * 1000)
          assert.strictEqual(allowed?._tag === "Allow" ? allowed.accessToken : undefined, mine)
          const expired = fast("stale", start * 1000)
          assert.strictEqual(expired?._tag === "Deny" ? expired.description : "", "The access token expired")
          const elsewhere = fast("other", start * 1000)
          assert.strictEqual(
            elsewhere?._tag === "Deny" ? elsewhere.description : "",
            "The access token was not issued for this resource",
          )
          const scoped = fast("mine", start * 1000, ["tools"])
          assert.strictEqual(scoped?._tag === "Deny" ? scoped.error : "", "insufficient_scope")
          // The Effect check takes the same path.
          const viaEffect = yield* on(a, LoadAccessToken.check("other"))
          assert.strictEqual(viaEffect._tag === "Deny" ? viaEffect.status : 0, 401)
        }),
      ),
  )

  it.effect("revocation - refused at once by the revoking instance, within the TTL by the other", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, b, issued, on, decision } = yield* twoInstances
        assert.strictEqual(yield* decision(a), "allow")
        assert.strictEqual(yield* decision(b), "allow")
        // What /revoke does for an access token, on instance b.
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
        )
        assert.strictEqual(yield* decision(b), "The access token is unknown or was revoked")
        // Instance a still remembers it, for at most cache_ttl_seconds (default 5).
        assert.strictEqual(yield* decision(a), "allow")
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(yield* decision(a), "The access token is unknown or was revoked")
      }),
    ),
  )

  it.effect("revocation - every spelling of the token the instance remembers is refused at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { b, issued, on } = yield* twoInstances
        // The last base64url character of an HS256 signature carries two unused bits: jose (and
        // node:crypto) read the four spellings as one signature, so each is a valid bearer of its
        // own, with the same jti.
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        const i = alphabet.indexOf(issued.access_token.at(-1)!)
        const spellings = [0, 1, 2, 3].map(
          (bits) => `${issued.access_token.slice(0, -1)}${alphabet[(i & ~3) | bits]}`,
        )
        const check = (bearer: string) =>
          on(
            b,
            Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Allow" ? "allow" : d.description)),
          )
        for (const bearer of spellings) assert.strictEqual(yield* check(bearer), "allow")
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
        )
        for (const bearer of spellings)
          assert.strictEqual(yield* check(bearer), "The access token is unknown or was revoked")
      }),
    ),
  )

  it.effect("an upstream token set replaced or deleted through the instance evicts its tokens", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { b, on, decision } = yield* twoInstances
        assert.strictEqual(yield* decision(b), "allow")
        yield* on(
          b,
          Effect.flatMap(tokenStore, (s) => s.upstreamTokenSets.delete("ts")),
        )
        assert.strictEqual(
          yield* decision(b),
          "The upstream session behind the access token no longer exists",
        )
        const size = yield* on(
          b,
          Effect.map(tokenStore, (s) => Option.fromNullishOr(s.verified?.size())),
        )
        assert.deepStrictEqual(size, Option.some(0))
      }),
    ),
  )
})

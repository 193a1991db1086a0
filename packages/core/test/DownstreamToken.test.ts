import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import * as DownstreamToken from "../src/DownstreamToken.ts"
import * as DownstreamTokenCache from "../src/DownstreamTokenCache.ts"
import { DownstreamTokenError } from "../src/OAuthError.ts"

const response = (token: string, expires_in?: number): DownstreamToken.ExchangeResponse => ({
  access_token: token,
  token_type: "Bearer",
  issued_token_type: DownstreamToken.accessTokenType,
  ...(expires_in === undefined ? {} : { expires_in }),
})

describe("DownstreamToken", () => {
  it("grantParameters - RFC 8693 with the configured audience, resource and scope", () => {
    const params = new Map(
      DownstreamToken.grantParameters(
        { grant: "exchange", audience: "api", resource: "https://api.test/", scope: "read" },
        "upstream-at",
      ),
    )
    assert.deepStrictEqual(Object.fromEntries(params), {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: "upstream-at",
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
      audience: "api",
      resource: "https://api.test/",
      scope: "read",
    })
  })

  it("grantParameters - Entra on-behalf-of sends the assertion and scope, no RFC 8693 fields", () => {
    const params = Object.fromEntries(
      DownstreamToken.grantParameters(
        { grant: "entra-obo", audience: "ignored", scope: "api://x/.default" },
        "upstream-at",
      ),
    )
    assert.deepStrictEqual(params, {
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      requested_token_use: "on_behalf_of",
      assertion: "upstream-at",
      scope: "api://x/.default",
    })
  })

  it("checkResponse - only a Bearer access token is forwarded", () => {
    assert.isTrue(Result.isSuccess(DownstreamToken.checkResponse(response("t"))))
    assert.isTrue(Result.isSuccess(DownstreamToken.checkResponse({ ...response("t"), token_type: "bearer" })))
    assert.isTrue(Result.isFailure(DownstreamToken.checkResponse({ ...response("t"), token_type: "N_A" })))
    assert.isTrue(Result.isFailure(DownstreamToken.checkResponse({ ...response("t"), token_type: "DPoP" })))
    assert.isTrue(
      Result.isFailure(
        DownstreamToken.checkResponse({
          ...response("t"),
          issued_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
        }),
      ),
    )
  })

  it("checkResponse - an access_token that cannot be a header value is refused, its text not quoted", () => {
    const refused = [
      "a\r\nX-Injected: 1",
      "a\nb",
      "a\u0000b",
      "a\u20acb",
      "a\u00e9b",
      "two words",
      " lead",
      "a".repeat(DownstreamToken.maxTokenLength + 1),
    ]
    for (const token of refused) {
      const checked = DownstreamToken.checkResponse(response(token))
      assert.isTrue(Result.isFailure(checked), JSON.stringify(token.slice(0, 20)))
      if (Result.isFailure(checked)) assert.notInclude(checked.failure, token.slice(0, 4))
    }
    const longest = "a".repeat(DownstreamToken.maxTokenLength)
    for (const token of ["eyJ.x-_~+/=", longest, "!#$%&'*+-.^_`|~\"\\"])
      assert.isTrue(Result.isSuccess(DownstreamToken.checkResponse(response(token))))
  })

  it("isForwardable - exactly the 1 to maxTokenLength visible ASCII strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 40 }), (token) => {
        const visible = [...token].every((c) => c >= "\x21" && c <= "\x7e")
        assert.strictEqual(DownstreamToken.isForwardable(token), token.length > 0 && visible)
      }),
    )
  })

  it("hold - reused for the lifetime minus min(30 s, a quarter); never past maxHoldSeconds", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.option(fc.double({ min: -10, max: 1e7, noNaN: true }), { nil: undefined }),
        fc.integer({ min: 0, max: 2 ** 32 }),
        (now, expiresIn, later) => {
          const held = DownstreamToken.hold(response("t", expiresIn), now)
          const lifetime = Math.min(
            expiresIn ?? DownstreamToken.defaultLifetimeSeconds,
            DownstreamToken.maxHoldSeconds,
          )
          assert.isAtMost(held.renewAt, held.expiresAt)
          assert.isAtMost(held.expiresAt, now + DownstreamToken.maxHoldSeconds * 1000)
          // Never reused at or past its expiry, nor within the margin before it.
          const at = now + later
          if (DownstreamToken.isReusable(held, at)) {
            assert.isTrue(lifetime > 0)
            assert.isBelow(at, held.expiresAt - Math.min(30_000, (lifetime * 1000) / 4) + 1e-6)
          }
          // Reused right after it was obtained when it lives a second or more; never without a lifetime.
          if (lifetime >= 1) assert.isTrue(DownstreamToken.isReusable(held, now))
          if (!(lifetime > 0)) assert.isFalse(DownstreamToken.isReusable(held, now))
        },
      ),
    )
  })

  it("hold - no expires_in: held for the default lifetime", () => {
    const held = DownstreamToken.hold(response("t"), 1_000)
    assert.strictEqual(held.expiresAt, 1_000 + 60_000)
    assert.strictEqual(held.renewAt, 1_000 + 45_000)
  })
})

describe("DownstreamTokenCache", () => {
  const setup = (answers: Array<Effect.Effect<DownstreamToken.ExchangeResponse, DownstreamTokenError>>) =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const keys: Array<string> = []
      const cache = yield* DownstreamTokenCache.make({
        exchange: (subject) => {
          seen.push(subject)
          return answers.shift() ?? Effect.die("no more answers")
        },
        key: (subject) =>
          Effect.sync(() => {
            const key = `h(${subject.length}:${[...subject].reverse().join("")})`
            keys.push(key)
            return key
          }),
        maxEntries: 2,
      })
      return { cache, seen, keys }
    })

  it.effect("get - one exchange per session while reusable; renewed at the margin before expiry", () =>
    Effect.gen(function* () {
      const { cache, seen } = yield* setup([
        Effect.succeed(response("down-1", 120)),
        Effect.succeed(response("down-2", 120)),
      ])
      assert.strictEqual(yield* cache.get("up-a"), "down-1")
      yield* TestClock.adjust("89 seconds")
      assert.strictEqual(yield* cache.get("up-a"), "down-1")
      assert.deepStrictEqual(seen, ["up-a"])
      // 120 s lifetime, 30 s margin: renewed from 90 s on.
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* cache.get("up-a"), "down-2")
      assert.deepStrictEqual(seen, ["up-a", "up-a"])
    }),
  )

  it.effect("get - concurrent requests of one session share one exchange", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const { cache, seen } = yield* setup([Deferred.await(gate).pipe(Effect.as(response("down-1", 300)))])
      const fibers = yield* Effect.forEach([1, 2, 3, 4, 5], () => Effect.forkChild(cache.get("up-a")))
      yield* Effect.yieldNow
      yield* Deferred.succeed(gate, undefined)
      const tokens = yield* Effect.forEach(fibers, Fiber.join)
      assert.deepStrictEqual(tokens, ["down-1", "down-1", "down-1", "down-1", "down-1"])
      assert.deepStrictEqual(seen, ["up-a"])
    }),
  )

  it.effect(
    "get - a failure is shared by the waiting requests and not held: the next request asks again",
    () =>
      Effect.gen(function* () {
        const refused = new DownstreamTokenError({ reason: "unavailable", description: "IdP down" })
        const { cache, seen } = yield* setup([Effect.fail(refused), Effect.succeed(response("down-1", 300))])
        const error = yield* Effect.flip(cache.get("up-a"))
        assert.strictEqual(error.reason, "unavailable")
        assert.strictEqual(yield* cache.get("up-a"), "down-1")
        assert.deepStrictEqual(seen, ["up-a", "up-a"])
      }),
  )

  it.effect("get - sessions are held apart, by keyed hash only; the oldest is dropped past maxEntries", () =>
    Effect.gen(function* () {
      const { cache, seen } = yield* setup([
        Effect.succeed(response("down-a", 300)),
        Effect.succeed(response("down-b", 300)),
        Effect.succeed(response("down-c", 300)),
        Effect.succeed(response("down-a2", 300)),
      ])
      assert.strictEqual(yield* cache.get("up-a"), "down-a")
      assert.strictEqual(yield* cache.get("up-b"), "down-b")
      assert.strictEqual(yield* cache.get("up-c"), "down-c")
      assert.strictEqual(cache.size(), 2)
      assert.strictEqual(yield* cache.get("up-b"), "down-b")
      assert.strictEqual(yield* cache.get("up-a"), "down-a2")
      assert.deepStrictEqual(seen, ["up-a", "up-b", "up-c", "up-a"])
    }),
  )

  it.effect("get - a result without a lifetime serves its own request and is not reused", () =>
    Effect.gen(function* () {
      const { cache, seen } = yield* setup([
        Effect.succeed(response("down-1", 0)),
        Effect.succeed(response("down-2", 0)),
      ])
      assert.strictEqual(yield* cache.get("up-a"), "down-1")
      assert.strictEqual(yield* cache.get("up-a"), "down-2")
      assert.strictEqual(seen.length, 2)
      assert.strictEqual(cache.size(), 0)
    }),
  )
})

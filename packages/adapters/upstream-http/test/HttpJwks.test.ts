import { assert, describe, it } from "@effect/vitest"
import { Jwks, ProxyConfig, UpstreamVerifier } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Clock, Context, Effect, Fiber, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import type { JSONWebKeySet } from "jose"
import { HttpJwks } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

const issuer = "https://idp.test"
/** A realistic epoch for the TestClock (tokens are signed at Clock time). */
const start = 1_800_000_000_000

interface Idp {
  /** What /jwks serves now; tests rotate it. */
  jwks: JSONWebKeySet
  status: number
  cacheControl: string | undefined
}

/**
 * A JWKS server, two upstream keys (k1 served, k2 for rotation), and a verifier wired as in
 * production: core's `UpstreamVerifier.layerJwt` over `HttpJwks.layer`.
 */
const setup = (options: Partial<HttpJwks.Options> = {}, initial: Partial<Idp> = {}) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(start)
    const k1 = yield* TestUpstream.make({ issuer, kid: "k1" })
    const k2 = yield* TestUpstream.make({ issuer, kid: "k2" })
    const idp: Idp = { jwks: k1.jwks, status: 200, cacheControl: undefined, ...initial }
    const server = yield* FakeServer.make((_, res) =>
      idp.status === 200
        ? FakeServer.json(
            res,
            200,
            idp.jwks,
            idp.cacheControl === undefined ? {} : { "cache-control": idp.cacheControl },
          )
        : FakeServer.json(res, idp.status, { error: "unavailable" }),
    )
    const jwksLayer = HttpJwks.layer({ jwksUri: `${server.origin}/jwks`, ...options }).pipe(
      Layer.provide(FetchHttpClient.layer),
    )
    const settings = Layer.effect(
      ProxyConfig.Settings,
      Effect.orDie(ProxyConfig.decode(TestProxy.config(k1))),
    )
    const services = yield* Layer.build(
      Layer.mergeAll(UpstreamVerifier.layerJwt.pipe(Layer.provide(jwksLayer)), jwksLayer).pipe(
        Layer.provide(settings),
      ),
    )
    const verifier = Context.get(services, UpstreamVerifier.UpstreamVerifier)
    const jwks = Context.get(services, Jwks.Jwks)
    /** A token signed by `key`, naming `kid` (default the key's own), valid for an hour. */
    const token = (key: TestUpstream.TestUpstream, kid?: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        key.sign(
          { sub: "alice", exp: Math.floor(now / 1000) + 3600 },
          { now: Math.floor(now / 1000), ...(kid === undefined ? {} : { kid }) },
        ),
      )
    const verify = (t: string) => verifier.verify(t, { issuer })
    return { k1, k2, idp, server, jwks, token, verify, hits: () => server.hits("/jwks") }
  })

describe("HttpJwks", () => {
  it.effect("current - cached keys are used without refetching", () =>
    Effect.gen(function* () {
      const { k1, token, verify, hits } = yield* setup()
      for (let i = 0; i < 5; i++) {
        const claims = yield* verify(yield* token(k1))
        assert.strictEqual(claims.sub, "alice")
      }
      assert.strictEqual(hits(), 1)
    }),
  )

  it.effect("current - concurrent callers on a cold cache share one fetch", () =>
    Effect.gen(function* () {
      const { jwks, hits } = yield* setup()
      const sets = yield* Effect.all(
        Array.from({ length: 20 }, () => jwks.current),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(hits(), 1)
      assert.isTrue(sets.every((s) => s === sets[0]))
    }),
  )

  it.effect("current - concurrent callers share a failed fetch instead of retrying it one by one", () =>
    Effect.gen(function* () {
      const { jwks, hits } = yield* setup({}, { status: 502 })
      const errors = yield* Effect.all(
        Array.from({ length: 20 }, () => Effect.flip(jwks.current)),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(hits(), 1)
      assert.isTrue(errors.every((e) => e.reason === "bad_response" && e.retryable))
    }),
  )

  it.effect("refresh - a rotated key is picked up on an unknown kid, once the cooldown allows", () =>
    Effect.gen(function* () {
      const { k1, k2, idp, token, verify, hits } = yield* setup()
      yield* verify(yield* token(k1))
      idp.jwks = { keys: [...k1.jwks.keys, ...k2.jwks.keys] }
      // Within the cooldown of the first fetch: no refetch, the new kid is unknown.
      const early = yield* Effect.flip(verify(yield* token(k2)))
      assert.strictEqual(early._tag, "InvalidToken")
      assert.strictEqual(hits(), 1)
      yield* TestClock.adjust("31 seconds")
      const claims = yield* verify(yield* token(k2))
      assert.strictEqual(claims.sub, "alice")
      assert.strictEqual(hits(), 2)
      // The old key still verifies from the refreshed set, without another fetch.
      yield* verify(yield* token(k1))
      assert.strictEqual(hits(), 2)
    }),
  )

  it.effect("refresh - a flood of unknown kids refetches at most once per cooldown", () =>
    Effect.gen(function* () {
      const { k1, token, verify, hits } = yield* setup()
      yield* verify(yield* token(k1))
      const flood = Effect.gen(function* () {
        const tokens = yield* Effect.all(Array.from({ length: 50 }, (_, i) => token(k1, `bogus-${i}`)))
        const outcomes = yield* Effect.all(
          tokens.map((t) => Effect.flip(verify(t))),
          { concurrency: "unbounded" },
        )
        assert.isTrue(outcomes.every((e) => e._tag === "InvalidToken"))
      })
      yield* flood
      assert.strictEqual(hits(), 1)
      yield* TestClock.adjust("31 seconds")
      yield* flood
      assert.strictEqual(hits(), 2)
      yield* flood
      yield* TestClock.adjust("29 seconds")
      yield* flood
      assert.strictEqual(hits(), 2)
      yield* TestClock.adjust("2 seconds")
      yield* flood
      assert.strictEqual(hits(), 3)
    }),
  )

  it.effect("stale-if-error - with the IdP down, cached keys still verify", () =>
    Effect.gen(function* () {
      const { k1, server, token, verify, hits } = yield* setup()
      yield* verify(yield* token(k1))
      assert.strictEqual(hits(), 1)
      yield* server.stop
      yield* TestClock.adjust("11 minutes")
      const claims = yield* verify(yield* token(k1))
      assert.strictEqual(claims.sub, "alice")
    }),
  )

  it.effect("stale-if-error - a 5xx keeps the cached keys, and retries only after the cooldown", () =>
    Effect.gen(function* () {
      const { k1, idp, token, verify, hits } = yield* setup()
      yield* verify(yield* token(k1))
      idp.status = 503
      yield* TestClock.adjust("11 minutes")
      yield* verify(yield* token(k1))
      assert.strictEqual(hits(), 2)
      yield* verify(yield* token(k1))
      assert.strictEqual(hits(), 2)
      idp.status = 200
      yield* TestClock.adjust("31 seconds")
      yield* verify(yield* token(k1))
      assert.strictEqual(hits(), 3)
    }),
  )

  it.effect("current - with nothing cached, an unreachable or failing IdP is an UpstreamError", () =>
    Effect.gen(function* () {
      const failing = yield* setup({}, { status: 500 })
      const bad = yield* Effect.flip(failing.jwks.current)
      assert.strictEqual(bad._tag, "UpstreamError")
      assert.strictEqual(bad.reason, "bad_response")
      assert.isTrue(bad.retryable)

      const down = yield* setup()
      yield* down.server.stop
      const error = yield* Effect.flip(down.verify(yield* down.token(down.k1)))
      assert.strictEqual(error._tag, "UpstreamError")
      if (error._tag === "UpstreamError") assert.strictEqual(error.reason, "unreachable")
    }),
  )

  it.effect("current - a body that is not a JWK set is refused", () =>
    Effect.gen(function* () {
      for (const body of [{ keys: "nope" }, [], { keys: [{ kid: "no-kty" }] }, { keys: [1] }]) {
        const { jwks } = yield* setup({}, { jwks: body as unknown as JSONWebKeySet })
        const error = yield* Effect.flip(jwks.current)
        assert.strictEqual(error.reason, "bad_response")
        assert.isFalse(error.retryable)
      }
    }),
  )

  it.effect("current - a silent IdP fails with a timeout after timeoutDuration", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start)
      const server = yield* FakeServer.make(() => {})
      const jwks = yield* HttpJwks.make({
        jwksUri: `${server.origin}/jwks`,
        timeoutDuration: "2 seconds",
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const fiber = yield* Effect.forkChild(Effect.flip(jwks.current))
      // Let the request reach the server before moving the clock.
      while (server.hits("/jwks") === 0) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 5)))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "timeout")
      assert.isTrue(error.retryable)
    }),
  )

  const lifetimes: ReadonlyArray<readonly [string | undefined, number, string]> = [
    ["max-age=120", 120, "honoured between the bounds"],
    ["public, max-age=5", 30, "raised to cacheMinAge"],
    ["max-age=86400", 600, "lowered to cacheMaxAge"],
    ["no-store", 30, "no-store means cacheMinAge"],
    [undefined, 600, "no header means cacheMaxAge"],
  ]
  for (const [header, seconds, why] of lifetimes) {
    it.effect(`current - Cache-Control ${header ?? "(none)"}: ${why}`, () =>
      Effect.gen(function* () {
        const { jwks, hits } = yield* setup(
          { cacheMinAge: "30 seconds", cacheMaxAge: "10 minutes" },
          { cacheControl: header },
        )
        yield* jwks.current
        yield* TestClock.adjust(`${seconds - 1} seconds`)
        yield* jwks.current
        assert.strictEqual(hits(), 1)
        yield* TestClock.adjust("1 second")
        yield* jwks.current
        assert.strictEqual(hits(), 2)
      }),
    )
  }

  it("requestedLifetime - reads max-age and no-store/no-cache", () => {
    assert.strictEqual(HttpJwks.requestedLifetime({ "cache-control": "public, max-age=300" }), 300_000)
    assert.strictEqual(HttpJwks.requestedLifetime({ "cache-control": "no-cache" }), 0)
    assert.isUndefined(HttpJwks.requestedLifetime({ "cache-control": "public" }))
    assert.isUndefined(HttpJwks.requestedLifetime({}))
  })
})

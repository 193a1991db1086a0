/**
 * Issue 20, finding 4: unauthenticated requests grew the store without bound — maximal
 * registrations living a year, `/authorize` requests each storing a 12 KB `state` for 10 minutes,
 * no quota, and a memory store with no budget. These tests pin each bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import * as RegisterEndpoint from "../../src/flows/RegisterEndpoint.ts"
import * as Quota from "../../src/Quota.ts"
import * as Store from "../../src/Store.ts"
import { TokenStore } from "../../src/TokenStore.ts"
import {
  authorizeParams,
  oauthFailure,
  pkce,
  redeem,
  refusedWithoutChange,
  register,
  signIn,
  start,
  tokenBody,
  withProxy,
} from "../flows/support.ts"

const valid = { redirect_uris: ["https://app.example/callback"], token_endpoint_auth_method: "none" }

const registerFrom = (source: string, metadata: Record<string, unknown> = valid) =>
  RegisterEndpoint.register(metadata, undefined, source)

const hours = (n: number) => n * 3600 * 1000

describe("issue 20: bounds on what unauthenticated callers make the server keep", () => {
  it.effect("register - metadata over 8 KiB is invalid_client_metadata and stores nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const failure = yield* refusedWithoutChange(
          RegisterEndpoint.register({ ...valid, client_name: "n", padding: "x".repeat(8200) }, undefined),
          "invalid_client_metadata",
        )
        assert.strictEqual(failure.description, "the registration metadata must be at most 8192 bytes")
        const long = yield* refusedWithoutChange(
          RegisterEndpoint.register(
            { ...valid, redirect_uris: [`https://app.example/${"a".repeat(2001)}`] },
            undefined,
          ),
          "invalid_redirect_uri",
        )
        assert.strictEqual(long.description, "redirect_uris entries must be at most 2000 characters")
        const many = yield* refusedWithoutChange(
          RegisterEndpoint.register(
            { ...valid, redirect_uris: Array.from({ length: 11 }, (_, i) => `https://app.example/${i}`) },
            undefined,
          ),
          "invalid_redirect_uri",
        )
        assert.strictEqual(many.description, "redirect_uris must have at most 10 entries")
      }),
    ),
  )

  it.effect(
    "register - a source gets its quota per window, then 429 with the seconds left; others are not affected",
    () =>
      withProxy(
        Effect.gen(function* () {
          yield* TestClock.setTime(start * 1000 - (start % 3600) * 1000 + 600_000) // 10 minutes into a window
          for (let i = 0; i < 3; i++) yield* registerFrom("203.0.113.5")
          // An invalid registration stores nothing and is not counted.
          yield* oauthFailure(registerFrom("203.0.113.5", { redirect_uris: [] }))
          const refused = yield* refusedWithoutChange(registerFrom("203.0.113.5"), "temporarily_unavailable")
          assert.strictEqual(refused.retry_after, 3000)
          assert.match(refused.description, /Too many client registrations from this address/)
          // IPv4-mapped IPv6 is the same source; another address has its own count.
          yield* refusedWithoutChange(registerFrom("::ffff:203.0.113.5"), "temporarily_unavailable")
          yield* registerFrom("203.0.113.6")
          // The next window admits again.
          yield* TestClock.adjust("3000 seconds")
          yield* registerFrom("203.0.113.5")
        }),
        { config: { quotas: { registrations_per_source: 3 } } },
      ),
  )

  it.effect("register - IPv6 addresses of one /64 share a count", () =>
    withProxy(
      Effect.gen(function* () {
        yield* registerFrom("2001:db8:1:2::1")
        yield* registerFrom("2001:db8:1:2:ffff::9")
        yield* refusedWithoutChange(registerFrom("2001:0db8:0001:0002:aaaa::1"), "temporarily_unavailable")
        yield* registerFrom("2001:db8:1:3::1")
        assert.strictEqual(Quota.sourceBucket("2001:db8::1"), "2001:db8:0:0::/64")
        assert.strictEqual(Quota.sourceBucket("::1"), "0:0:0:0::/64")
        assert.strictEqual(Quota.sourceBucket("fe80::1%eth0"), "fe80:0:0:0::/64")
      }),
      { config: { quotas: { registrations_per_source: 2 } } },
    ),
  )

  it.effect("admit - of many concurrent requests exactly the limit is admitted", () =>
    withProxy(
      Effect.gen(function* () {
        const limit = { name: "t", limit: 7, windowSeconds: 60 }
        const results = yield* Effect.all(
          Array.from({ length: 40 }, () => Effect.result(Quota.admit(limit, "b", "too many"))),
          { concurrency: "unbounded" },
        )
        assert.strictEqual(results.filter((r) => r._tag === "Success").length, 7)
        // A limit of 0 is off.
        for (let i = 0; i < 20; i++) yield* Quota.admit({ ...limit, limit: 0 }, "b", "too many")
      }),
    ),
  )

  it.effect("admitAuthorization - counts per source and per client", () =>
    withProxy(
      Effect.gen(function* () {
        for (let i = 0; i < 2; i++) yield* Quota.admitAuthorization("198.51.100.1", "client-a")
        const bySource = yield* oauthFailure(Quota.admitAuthorization("198.51.100.1", "client-b"))
        assert.match(bySource.description, /from this address/)
        yield* Quota.admitAuthorization("198.51.100.2", "client-a")
        const byClient = yield* oauthFailure(Quota.admitAuthorization("198.51.100.3", "client-a"))
        assert.match(byClient.description, /for this client/)
        assert.isTrue((byClient.retry_after ?? 0) > 0)
      }),
      { config: { quotas: { authorizations_per_source: 2, authorizations_per_client: 3 } } },
    ),
  )

  it.effect(
    "authorize - pending sign-ins are counted per source; refused requests are not, and write nothing",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const { challenge } = yield* pkce
          const from = (params: Record<string, string | undefined>, source: string) =>
            AuthorizationEndpoint.authorize(authorizeParams(client, challenge, params), {}, source)
          yield* refusedWithoutChange(from({ code_challenge: "short" }, "198.51.100.7"), "invalid_request")
          yield* refusedWithoutChange(from({ state: "s".repeat(2000) }, "198.51.100.7"), "invalid_request")
          for (let i = 0; i < 2; i++)
            assert.strictEqual((yield* from({}, "198.51.100.7"))._tag, "ConsentPage")
          const refused = yield* refusedWithoutChange(from({}, "198.51.100.7"), "temporarily_unavailable")
          assert.isTrue((refused.retry_after ?? 0) > 0)
          assert.isUndefined(refused.redirect, "a quota refusal is not sent to the client")
          assert.strictEqual((yield* from({}, "198.51.100.8"))._tag, "ConsentPage")
        }),
        { config: { quotas: { authorizations_per_source: 2 } } },
      ),
  )

  it.effect(
    "authorize - a state over 1024 characters or a scope over 2000 is invalid_request, nothing stored",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const { challenge } = yield* pkce
          const state = yield* refusedWithoutChange(
            AuthorizationEndpoint.authorize(
              authorizeParams(client, challenge, { state: "s".repeat(1025) }),
              {},
            ),
            "invalid_request",
          )
          assert.strictEqual(state.description, "state must be at most 1024 characters")
          assert.isUndefined(state.redirect?.state, "the oversized state is not echoed")
          const scope = yield* refusedWithoutChange(
            AuthorizationEndpoint.authorize(
              authorizeParams(client, challenge, { scope: "a ".repeat(1001) }),
              {},
            ),
            "invalid_request",
          )
          assert.strictEqual(scope.description, "scope must be at most 2000 characters")
          // 1024 is accepted.
          const ok = yield* AuthorizationEndpoint.authorize(
            authorizeParams(client, challenge, { state: "s".repeat(1024) }),
            {},
          )
          assert.strictEqual(ok._tag, "ConsentPage")
        }),
      ),
  )

  it.effect("register - a client no one signs in with is gone after ttl.unused_client", () =>
    withProxy(
      Effect.gen(function* () {
        const unused = yield* register()
        const used = yield* register()
        tokenBody(yield* redeem(used, yield* signIn(used)))
        const store = yield* TokenStore
        yield* TestClock.adjust(hours(24) + 1000)
        assert.isTrue(Option.isNone(yield* store.clients.get(unused.client_id)), "the unused client expired")
        const kept = yield* store.clients.get(used.client_id)
        assert.isTrue(Option.isSome(kept), "a client that redeemed a code is kept")
        // ...for ttl.client from its registration, not from its first token.
        yield* TestClock.adjust(hours(24 * 365) - hours(24))
        assert.isTrue(Option.isNone(yield* store.clients.get(used.client_id)))
      }),
    ),
  )
})

describe("issue 20: registrations by the operator", () => {
  it.effect("register - with the initial access token: no quota, the full client lifetime", () =>
    withProxy(
      Effect.gen(function* () {
        const ids: Array<string> = []
        for (let i = 0; i < 3; i++) {
          const outcome = yield* RegisterEndpoint.register(valid, "operator-token", "203.0.113.9")
          ids.push((outcome as { readonly body: { readonly client_id: string } }).body.client_id)
        }
        yield* TestClock.adjust(hours(48))
        const store = yield* TokenStore
        for (const id of ids) assert.isTrue(Option.isSome(yield* store.clients.get(id)))
      }),
      {
        config: {
          quotas: { registrations_per_source: 1 },
          registration: { initial_access_token: "operator-token" },
        },
      },
    ),
  )
})

describe("Store.makeMemoryWith - a byte budget", () => {
  it.effect("drops expired entries first, then the least recently written", () =>
    Effect.gen(function* () {
      const cost = (key: string, value: string) => key.length + value.length + Store.memoryEntryOverhead
      const value = "v".repeat(100)
      const store = yield* Store.makeMemoryWith({ maxBytes: cost("k00", value) * 10 })
      yield* store.set("s00", value, "1 second")
      for (let i = 0; i < 9; i++) yield* store.set(`k0${i}`, value, "1 hour")
      yield* store.set("k00", value, "1 hour") // rewritten: now the most recent
      yield* TestClock.adjust("2 seconds")
      // Full (short is expired but still counted): the expired one goes first.
      yield* store.set("k10", value, "1 hour")
      assert.isTrue(Option.isSome(yield* store.get("k01")), "live entries stay while expired ones can go")
      // Over again: the least recently written live entry (k01) goes, not the rewritten k00.
      yield* store.set("k11", value, "1 hour")
      assert.isTrue(Option.isNone(yield* store.get("k01")))
      assert.isTrue(Option.isSome(yield* store.get("k00")))
      assert.isTrue(Option.isSome(yield* store.get("k11")))
      // However many writes, the live entries stay within the budget.
      for (let i = 0; i < 1000; i++) yield* store.set(`many-${i}`, value, "1 hour")
      let live = 0
      for (let i = 0; i < 1000; i++) if (Option.isSome(yield* store.get(`many-${i}`))) live++
      assert.isAtMost(live, 10)
    }),
  )
})

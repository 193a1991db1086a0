import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { ProxyKeys } from "../../src/ProxyKeys.ts"
import { TestUpstreamClient } from "../../src/testing/index.ts"
import {
  oauthFailure,
  refresh,
  refusedWithoutChange,
  register,
  revoke,
  session,
  tokenBody,
  withProxy,
} from "./support.ts"

const decision = (bearer: string) =>
  Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Allow" ? "allow" : `${d.status} ${d.error}`))

const upstreamClient = TestUpstreamClient.TestUpstreamClient

describe("TokenEndpoint refresh_token", () => {
  it.effect(
    "refresh_token - rotates: new tokens, and within the grace window a retry gets the same answer",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session()
          const first = tokenBody(yield* refresh(client, tokens.refresh_token!))
          assert.notStrictEqual(first.refresh_token, tokens.refresh_token)
          assert.notStrictEqual(first.access_token, tokens.access_token)
          yield* TestClock.adjust("29 seconds")
          const retry = tokenBody(yield* refresh(client, tokens.refresh_token!))
          assert.deepStrictEqual(retry, first)
          assert.strictEqual(yield* decision(first.access_token), "allow")
          const next = tokenBody(yield* refresh(client, first.refresh_token!))
          assert.strictEqual(yield* decision(next.access_token), "allow")
        }),
      ),
  )

  it.effect(
    "refresh_token - a retry within the grace window after the family was revoked is invalid_grant",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session()
          const rotated = tokenBody(yield* refresh(client, tokens.refresh_token!))
          yield* revoke(client, rotated.refresh_token!)
          yield* TestClock.adjust("5 seconds")
          const retry = yield* oauthFailure(refresh(client, tokens.refresh_token!))
          assert.strictEqual(retry.error, "invalid_grant")
        }),
      ),
  )

  it.effect("refresh_token - reuse after the grace window is invalid_grant and revokes the family", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        const rotated = tokenBody(yield* refresh(client, tokens.refresh_token!))
        yield* TestClock.adjust("31 seconds")
        const reuse = yield* oauthFailure(refresh(client, tokens.refresh_token!))
        assert.strictEqual(reuse.error, "invalid_grant")
        assert.strictEqual(yield* decision(rotated.access_token), "401 invalid_token")
        assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token")
        const newest = yield* oauthFailure(refresh(client, rotated.refresh_token!))
        assert.strictEqual(newest.error, "invalid_grant")
        const revocations = yield* (yield* upstreamClient).revocations
        assert.strictEqual(revocations.length, 1)
        assert.strictEqual(revocations[0]!.token_type_hint, "refresh_token")
      }),
    ),
  )

  it.live("refresh_token - an access token, an unknown or empty token is not a refresh token", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        for (const token of [tokens.access_token, "unknown-refresh-token"]) {
          const failure = yield* oauthFailure(refresh(client, token))
          assert.strictEqual(failure.error, "invalid_grant")
        }
        const empty = yield* oauthFailure(refresh(client, ""))
        assert.strictEqual(empty.error, "invalid_request")
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
        tokenBody(yield* refresh(client, tokens.refresh_token!))
      }),
      { live: true },
    ),
  )

  it.effect("refresh_token - a refresh token used as a bearer token is 401", () =>
    withProxy(
      Effect.gen(function* () {
        const { tokens } = yield* session()
        assert.strictEqual(yield* decision(tokens.refresh_token!), "401 invalid_token")
        const keys = yield* ProxyKeys
        const claims = yield* keys.verify(tokens.access_token)
        // Even a JWT with the refresh token's value as its jti does not resolve.
        const forged = yield* keys.sign({ ...claims, jti: tokens.refresh_token! })
        assert.strictEqual(yield* decision(forged), "401 invalid_token")
      }),
    ),
  )

  it.effect("refresh_token - the refresh token of another client is invalid_grant and changes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        const other = yield* register()
        yield* refusedWithoutChange(refresh(other, tokens.refresh_token!), "invalid_grant")
        tokenBody(yield* refresh(client, tokens.refresh_token!))
      }),
    ),
  )

  it.effect(
    "refresh_token - a narrower scope is granted; a wider one is invalid_scope and changes nothing",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session({}, { params: { scope: "openid mcp.read" } })
          yield* refusedWithoutChange(
            refresh(client, tokens.refresh_token!, { scope: "openid mcp.read mcp.write" }),
            "invalid_scope",
          )
          const narrowed = tokenBody(yield* refresh(client, tokens.refresh_token!, { scope: "mcp.read" }))
          assert.strictEqual(narrowed.scope, "mcp.read")
          const claims = yield* (yield* ProxyKeys).verify(narrowed.access_token)
          assert.strictEqual(claims.scope, "mcp.read")
        }),
      ),
  )

  it.effect(
    "refresh_token - after narrowing, the new refresh token keeps the original scope (RFC 6749 §6)",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session({}, { params: { scope: "openid mcp.read" } })
          const narrowed = tokenBody(yield* refresh(client, tokens.refresh_token!, { scope: "mcp.read" }))
          const back = tokenBody(yield* refresh(client, narrowed.refresh_token!))
          assert.strictEqual(back.scope, "mcp.read openid")
        }),
      ),
  )

  it.live(
    "refresh_token - 50 concurrent refreshes of one token: one answer for all, at most one upstream refresh",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session()
          const results = yield* Effect.all(
            Array.from({ length: 50 }, () =>
              refresh(client, tokens.refresh_token!).pipe(Effect.map(tokenBody)),
            ),
            { concurrency: "unbounded" },
          )
          for (const r of results) assert.deepStrictEqual(r, results[0])
          assert.isAtMost((yield* (yield* upstreamClient).refreshes).length, 1)
          assert.strictEqual(yield* decision(results[0]!.access_token), "allow")
        }),
        { live: true },
      ),
  )

  it.live(
    "refresh_token - 50 concurrent refreshes when the upstream is near expiry: exactly one upstream refresh",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session({}, { upstream: { expiresIn: 30 } })
          const results = yield* Effect.all(
            Array.from({ length: 50 }, () =>
              refresh(client, tokens.refresh_token!).pipe(Effect.map(tokenBody)),
            ),
            { concurrency: "unbounded" },
          )
          for (const r of results) assert.deepStrictEqual(r, results[0])
          const refreshes = yield* (yield* upstreamClient).refreshes
          assert.strictEqual(refreshes.length, 1)
          assert.match(refreshes[0]!.refresh_token, /^upstream-rt-/)
          assert.strictEqual(yield* decision(results[0]!.access_token), "allow")
        }),
        { live: true, client: { refresh: { latency: "20 millis" } } },
      ),
  )

  it.effect(
    "refresh_token - a transient upstream failure is temporarily_unavailable and the token still works later",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session({}, { upstream: { expiresIn: 600 } })
          const upstream = yield* upstreamClient
          yield* TestClock.adjust("700 seconds")
          yield* upstream.setRefresh({ error: TestUpstreamClient.unreachable() })
          const failure = yield* oauthFailure(refresh(client, tokens.refresh_token!))
          assert.strictEqual(failure.error, "temporarily_unavailable")
          yield* upstream.setRefresh({})
          yield* TestClock.adjust("60 seconds")
          const retried = tokenBody(yield* refresh(client, tokens.refresh_token!))
          assert.strictEqual(yield* decision(retried.access_token), "allow")
        }),
      ),
  )

  it.live(
    "refresh_token - concurrent refreshes during an upstream outage are all told to retry, none revoked",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session({}, { upstream: { expiresIn: 1 } })
          const upstream = yield* upstreamClient
          yield* upstream.setRefresh({ error: TestUpstreamClient.unreachable(), latency: "20 millis" })
          yield* Effect.sleep("1100 millis")
          const failures = yield* Effect.all(
            Array.from({ length: 20 }, () => oauthFailure(refresh(client, tokens.refresh_token!))),
            { concurrency: "unbounded" },
          )
          for (const f of failures) assert.strictEqual(f.error, "temporarily_unavailable", f.description)
          yield* upstream.setRefresh({})
          const retried = tokenBody(yield* refresh(client, tokens.refresh_token!))
          assert.strictEqual(yield* decision(retried.access_token), "allow")
        }),
        { live: true },
      ),
  )

  it.effect("refresh_token - an upstream that refuses the refresh ends the session: invalid_grant", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session({}, { upstream: { expiresIn: 600 } })
        yield* (yield* upstreamClient).setRefresh({ error: TestUpstreamClient.rejected() })
        yield* TestClock.adjust("700 seconds")
        const failure = yield* oauthFailure(refresh(client, tokens.refresh_token!))
        assert.strictEqual(failure.error, "invalid_grant")
      }),
    ),
  )

  it.effect(
    "check - the upstream token is refreshed transparently on the request path when near expiry",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { tokens } = yield* session()
          const upstream = yield* upstreamClient
          assert.strictEqual(yield* decision(tokens.access_token), "allow")
          assert.strictEqual((yield* upstream.refreshes).length, 0)
          yield* TestClock.adjust("3550 seconds")
          assert.strictEqual(yield* decision(tokens.access_token), "allow")
          assert.strictEqual((yield* upstream.refreshes).length, 1)
          assert.strictEqual(yield* decision(tokens.access_token), "allow")
          assert.strictEqual((yield* upstream.refreshes).length, 1, "the refreshed set was stored")
        }),
        { config: { upstream: { audience: "api://mcp" } } },
      ),
  )

  it.effect(
    "id_token rule - after an upstream refresh without a new id_token, the session outlives the old id_token's exp",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session({}, { upstream: { expiresIn: 600 } })
          const upstream = yield* upstreamClient
          yield* upstream.setRefresh({ idToken: false })
          yield* TestClock.adjust("590 seconds")
          assert.strictEqual(yield* decision(tokens.access_token), "allow")
          assert.strictEqual((yield* upstream.refreshes).length, 1)
          yield* TestClock.adjust("1200 seconds")
          assert.strictEqual(
            yield* decision(tokens.access_token),
            "allow",
            "the old id_token expired 20 min ago",
          )
          const refreshed = tokenBody(yield* refresh(client, tokens.refresh_token!))
          assert.strictEqual(yield* decision(refreshed.access_token), "allow")
        }),
        { config: { verification_mode: "id_token" } },
      ),
  )

  it.effect(
    "id_token rule - once the upstream refuses to refresh, the expired id_token no longer serves",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { tokens } = yield* session({}, { upstream: { expiresIn: 600 } })
          yield* (yield* upstreamClient).setRefresh({ error: TestUpstreamClient.rejected() })
          yield* TestClock.adjust("700 seconds")
          assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token")
        }),
        { config: { verification_mode: "id_token" } },
      ),
  )

  it.effect("revocation of a family refuses every access token it issued, however many refreshes", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        const issued = [tokens.access_token]
        let current = tokens.refresh_token!
        for (let i = 0; i < 30; i++) {
          const next = tokenBody(yield* refresh(client, current))
          issued.push(next.access_token)
          current = next.refresh_token!
        }
        for (const token of issued) assert.strictEqual(yield* decision(token), "allow")
        yield* TestClock.adjust("31 seconds")
        const reuse = yield* oauthFailure(refresh(client, tokens.refresh_token!))
        assert.strictEqual(reuse.error, "invalid_grant")
        for (const [i, token] of issued.entries()) {
          assert.strictEqual(yield* decision(token), "401 invalid_token", `access token #${i}`)
        }
      }),
    ),
  )
})

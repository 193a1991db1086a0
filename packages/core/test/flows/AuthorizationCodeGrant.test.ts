import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { TestStore } from "../../src/testing/index.ts"
import {
  oauthFailure,
  pkce,
  redeem,
  refresh,
  refusedWithoutChange,
  register,
  signIn,
  tokenBody,
  withProxy,
} from "./support.ts"

const decision = (bearer: string) =>
  Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Allow" ? "allow" : `${d.status} ${d.error}`))

describe("TokenEndpoint authorization_code", () => {
  it.effect("authorization_code - redirect_uri must be exactly the authorization request's", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register({
          redirect_uris: ["https://app.example/callback", "https://app.example/other"],
        })
        const signedIn = yield* signIn(client)
        for (const redirect_uri of [
          "https://app.example/other",
          "https://app.example/callback/",
          "https://app.example/callback?",
          "https://APP.example/callback",
          "",
        ]) {
          yield* refusedWithoutChange(redeem(client, signedIn, { redirect_uri }), "invalid_grant")
        }
        tokenBody(yield* redeem(client, signedIn))
      }),
    ),
  )

  it.effect("authorization_code - a loopback redirect is matched with the port the request used", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register({ redirect_uris: ["http://127.0.0.1/callback"] })
        const signedIn = yield* signIn(client, {
          params: { redirect_uri: "http://127.0.0.1:51234/callback" },
        })
        assert.strictEqual(signedIn.redirect_uri, "http://127.0.0.1:51234/callback")
        yield* refusedWithoutChange(
          redeem(client, signedIn, { redirect_uri: "http://127.0.0.1:51235/callback" }),
          "invalid_grant",
        )
        yield* refusedWithoutChange(
          redeem(client, signedIn, { redirect_uri: "http://127.0.0.1/callback" }),
          "invalid_grant",
        )
        tokenBody(yield* redeem(client, signedIn))
      }),
    ),
  )

  it.effect("authorization_code - a wrong or missing code_verifier is refused and changes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const signedIn = yield* signIn(client)
        const other = yield* pkce
        for (const code_verifier of [
          other.verifier,
          signedIn.challenge,
          "short",
          `${signedIn.verifier}x`,
          "",
        ]) {
          yield* refusedWithoutChange(redeem(client, signedIn, { code_verifier }), "invalid_grant")
        }
        yield* refusedWithoutChange(
          redeem(client, { ...signedIn, verifier: undefined as unknown as string }),
          "invalid_request",
        )
        tokenBody(yield* redeem(client, signedIn))
      }),
    ),
  )

  it.effect("authorization_code - the code of another client is refused; it still works for its client", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const thief = yield* register()
        const signedIn = yield* signIn(client)
        yield* refusedWithoutChange(redeem(thief, signedIn), "invalid_grant")
        const tokens = tokenBody(yield* redeem(client, signedIn))
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
      }),
    ),
  )

  it.effect("authorization_code - success: no-store, Bearer access token, refresh token, scope", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const signedIn = yield* signIn(client, { params: { scope: "openid mcp.read" } })
        const outcome = yield* redeem(client, signedIn)
        const tokens = tokenBody(outcome)
        assert.strictEqual(outcome._tag === "Json" ? outcome.headers?.["pragma"] : undefined, "no-cache")
        assert.strictEqual(tokens.token_type, "Bearer")
        assert.strictEqual(tokens.expires_in, 3600)
        assert.strictEqual(tokens.scope, "mcp.read openid")
        assert.isString(tokens.refresh_token)
        assert.strictEqual(tokens.access_token.split(".").length, 3)
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
        for (const value of (yield* (yield* TestStore.TestStore).snapshot).values()) {
          assert.notInclude(value, tokens.refresh_token!)
        }
      }),
    ),
  )

  it.effect("authorization_code - no refresh token for a client without the refresh_token grant", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register({ grant_types: ["authorization_code"] })
        const tokens = tokenBody(yield* redeem(client, yield* signIn(client)))
        assert.isUndefined(tokens.refresh_token)
        assert.deepStrictEqual(yield* (yield* TestStore.TestStore).keys("refresh:"), [])
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
      }),
    ),
  )

  it.effect(
    "authorization_code - a replayed code is invalid_grant and revokes what the first use issued",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const signedIn = yield* signIn(client)
          const tokens = tokenBody(yield* redeem(client, signedIn))
          assert.strictEqual(yield* decision(tokens.access_token), "allow")
          const replay = yield* oauthFailure(redeem(client, signedIn))
          assert.strictEqual(replay.error, "invalid_grant")
          assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token")
          const refused = yield* oauthFailure(refresh(client, tokens.refresh_token!))
          assert.strictEqual(refused.error, "invalid_grant")
        }),
      ),
  )

  it.effect("authorization_code - a replay by another client revokes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const thief = yield* register()
        const signedIn = yield* signIn(client)
        const tokens = tokenBody(yield* redeem(client, signedIn))
        yield* refusedWithoutChange(redeem(thief, signedIn), "invalid_grant")
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
      }),
    ),
  )

  it.effect("authorization_code - the code expires after ttl.authorization_code", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const signedIn = yield* signIn(client)
        yield* TestClock.adjust("301 seconds")
        const failure = yield* oauthFailure(redeem(client, signedIn))
        assert.strictEqual(failure.error, "invalid_grant")
      }),
    ),
  )

  // Every loser is a replay of the winner (issue 20): it revokes what the winner issued, so the
  // winner may itself be answered invalid_grant (see test/regressions/code-replay-race.test.ts).
  it.live(
    "authorization_code - 50 concurrent redemptions of one code: at most one succeeds, nothing stays live",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const signedIn = yield* signIn(client)
          const results = yield* Effect.all(
            Array.from({ length: 50 }, () => Effect.result(redeem(client, signedIn))),
            { concurrency: "unbounded" },
          )
          const successes = results.filter((r) => r._tag === "Success")
          assert.isAtMost(successes.length, 1)
          for (const r of results) {
            if (r._tag === "Failure") {
              assert.strictEqual(r.failure._tag, "OAuthFailure")
              if (r.failure._tag === "OAuthFailure") assert.strictEqual(r.failure.error, "invalid_grant")
            }
          }
          assert.isAtMost((yield* (yield* TestStore.TestStore).keys("refresh:")).length, 1)
          assert.deepStrictEqual(yield* (yield* TestStore.TestStore).keys("jti:"), [])
          assert.deepStrictEqual(yield* (yield* TestStore.TestStore).keys("upstream:"), [])
        }),
        { live: true },
      ),
  )
})

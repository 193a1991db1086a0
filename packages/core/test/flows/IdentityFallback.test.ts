/**
 * The id_token identity fallback through the flows: the callback verifies the id_token in
 * access_token mode and keeps its identity members with the upstream token set; the bearer check
 * then gives an access token without `email` (Auth0, Cognito) the id_token's — for the same
 * subject only, never its scopes — and an upstream refresh keeps the sign-in's identity.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { decodeJwt } from "jose"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { TokenStore } from "../../src/TokenStore.ts"
import { TestUpstreamClient } from "../../src/testing/index.ts"
import { session, withProxy } from "./support.ts"

const accessMode = { verification_mode: "access_token", upstream: { audience: "api://mcp" } }

/** An Auth0-shaped sign-in: email and name in the id_token only, scopes in the access token only. */
const auth0Like = {
  idClaims: { email: "ada@example.com", email_verified: true, name: "Ada Lovelace", scope: "admin" },
  accessClaims: { scope: "openid email" },
}

/** The upstream token set behind a proxy access token (its `jti` mapping). */
const upstreamSetId = (accessToken: string) =>
  Effect.flatMap(TokenStore, (store) => store.jtiMappings.get(String(decodeJwt(accessToken).jti))).pipe(
    Effect.map((mapping) => Option.getOrThrow(mapping).upstream_token_set_id),
  )

const storedSet = (id: string) =>
  Effect.flatMap(TokenStore, (store) => store.upstreamTokenSets.get(id)).pipe(Effect.map(Option.getOrThrow))

describe("id_token identity fallback", () => {
  it.effect("callback + bearer check - the access token lacks email: the id_token's, verified, is used", () =>
    withProxy(
      Effect.gen(function* () {
        const { tokens } = yield* session({}, { upstream: auth0Like })
        const token = yield* LoadAccessToken.loadAccessToken(tokens.access_token)
        assert.strictEqual(token.claims["email"], "ada@example.com")
        assert.strictEqual(token.claims["email_verified"], true)
        assert.strictEqual(token.claims["name"], "Ada Lovelace")
        // The id_token's `scope` and `aud` are not the request's.
        assert.deepStrictEqual(token.scopes, ["email", "openid"])
        assert.strictEqual(token.claims["aud"], "api://mcp")
        assert.strictEqual(token.claims.scope, "openid email")
      }),
      { config: accessMode },
    ),
  )

  it.effect("bearer check - the access token's own email wins; another subject gets none of it", () =>
    withProxy(
      Effect.gen(function* () {
        const own = yield* session(
          {},
          { upstream: { ...auth0Like, accessClaims: { scope: "openid", email: "a@corp.example" } } },
        )
        const ownToken = yield* LoadAccessToken.loadAccessToken(own.tokens.access_token)
        assert.strictEqual(ownToken.claims["email"], "a@corp.example")
        assert.isUndefined(ownToken.claims["email_verified"], "never marks the access token's email verified")
        assert.strictEqual(ownToken.claims["name"], "Ada Lovelace")

        // Okta's custom authorization server: the access token's `sub` is the login, the id_token's the id.
        const other = yield* session(
          {},
          { upstream: { ...auth0Like, accessClaims: { scope: "openid", sub: "ada@example.com" } } },
        )
        const otherToken = yield* LoadAccessToken.loadAccessToken(other.tokens.access_token)
        assert.strictEqual(otherToken.subject, "ada@example.com")
        assert.isUndefined(otherToken.claims["email"])
        assert.isUndefined(otherToken.claims["name"])
      }),
      { config: accessMode },
    ),
  )

  it.effect("refresh - an upstream refresh keeps the sign-in's identity with the new token set", () =>
    withProxy(
      Effect.gen(function* () {
        const { tokens } = yield* session({}, { upstream: { ...auth0Like, expiresIn: 600 } })
        const before = yield* LoadAccessToken.loadAccessToken(tokens.access_token)
        const id = yield* upstreamSetId(tokens.access_token)
        const signedIn = yield* storedSet(id)
        yield* TestClock.adjust("590 seconds")
        const after = yield* LoadAccessToken.loadAccessToken(tokens.access_token)
        assert.strictEqual((yield* (yield* TestUpstreamClient.TestUpstreamClient).refreshes).length, 1)
        const refreshed = yield* storedSet(id)
        assert.notStrictEqual(refreshed.access_token, signedIn.access_token)
        assert.deepStrictEqual(refreshed.identity, signedIn.identity)
        assert.strictEqual(after.claims["email"], "ada@example.com")
        assert.deepStrictEqual(after.scopes, before.scopes)
      }),
      { config: accessMode },
    ),
  )

  it.effect("callback - nothing kept in id_token mode (the id_token is the verified token)", () =>
    withProxy(
      Effect.gen(function* () {
        const { tokens } = yield* session({}, { upstream: auth0Like })
        const token = yield* LoadAccessToken.loadAccessToken(tokens.access_token)
        assert.strictEqual(token.claims["email"], "ada@example.com")
        const set = yield* storedSet(yield* upstreamSetId(tokens.access_token))
        assert.isUndefined(set.identity)
      }),
      { config: { verification_mode: "id_token" } },
    ),
  )
})

/**
 * A whole sign-in through the flows and the bearer check, with the scripted upstream: register →
 * authorize → consent → callback → token → check → refresh → revoke.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { TestUpstreamClient } from "../../src/testing/index.ts"
import { oauthFailure, refresh, revoke, session, tokenBody, withProxy } from "./support.ts"

const allowedScopes = (bearer: string, required: ReadonlyArray<string> = []) =>
  Effect.map(LoadAccessToken.check(bearer, required), (d) =>
    d._tag === "Allow" ? d.accessToken.scopes : `${d.status} ${d.error ?? ""}`,
  )

describe("FullFlow", () => {
  it.effect("register → authorize → consent → callback → token → check → refresh → revoke", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session({}, { params: { scope: "openid profile" } })
        assert.strictEqual(tokens.scope, "openid profile")
        // id_token mode: the scopes recorded upstream (offline_access is asked for refreshing clients).
        const recorded = ["offline_access", "openid", "profile"]
        assert.deepStrictEqual(yield* allowedScopes(tokens.access_token), recorded)
        const refreshed = tokenBody(yield* refresh(client, tokens.refresh_token!))
        assert.deepStrictEqual(yield* allowedScopes(refreshed.access_token), recorded)
        yield* revoke(client, refreshed.refresh_token!)
        assert.strictEqual(yield* allowedScopes(refreshed.access_token), "401 invalid_token")
        assert.strictEqual(yield* allowedScopes(tokens.access_token), "401 invalid_token")
        const failure = yield* oauthFailure(refresh(client, refreshed.refresh_token!))
        assert.strictEqual(failure.error, "invalid_grant")
      }),
      { config: { verification_mode: "id_token" } },
    ),
  )

  it.effect(
    "fastmcp#3461 - same JWT as access and id token, id_token mode, required openid offline_access: allowed with exactly those scopes",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { tokens } = yield* session(
            {},
            { params: { scope: "openid offline_access" }, upstream: { sameJwt: true } },
          )
          const decision = yield* LoadAccessToken.check(tokens.access_token)
          assert.strictEqual(decision._tag, "Allow")
          if (decision._tag === "Allow") {
            assert.deepStrictEqual(decision.accessToken.scopes, ["offline_access", "openid"])
            assert.strictEqual(decision.accessToken.subject, "user-1")
          }
          const exchanges = yield* (yield* TestUpstreamClient.TestUpstreamClient).exchanges
          assert.strictEqual(exchanges.length, 1)
        }),
        {
          config: {
            verification_mode: "id_token",
            required_scopes: ["openid", "offline_access"],
          },
        },
      ),
  )

  it.effect("access_token mode - the upstream access token's scope claim decides", () =>
    withProxy(
      Effect.gen(function* () {
        const { tokens } = yield* session(
          {},
          { params: { scope: "openid mcp.read" }, upstream: { accessClaims: { scp: ["mcp.read"] } } },
        )
        assert.deepStrictEqual(yield* allowedScopes(tokens.access_token), ["mcp.read"])
        assert.strictEqual(yield* allowedScopes(tokens.access_token, ["mcp.write"]), "403 insufficient_scope")
      }),
      { config: { upstream: { audience: "api://mcp" } } },
    ),
  )
})

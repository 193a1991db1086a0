/**
 * The offline_access rules (MCP SEP-2207): accepted from clients (even when not listed in the
 * server's or the client's scopes); a refresh token only for clients allowed the refresh_token
 * grant; never demanded in a 401/403 challenge; asked of the upstream only when it advertises it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as BearerDecision from "../../src/BearerDecision.ts"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { redeem, register, signIn, tokenBody, withProxy } from "./support.ts"

describe("OfflineAccess", () => {
  it.effect("accepted from clients, also outside scopes_supported and the client's registered scope", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register({ scope: "openid" })
        const signedIn = yield* signIn(client, { params: { scope: "openid offline_access" } })
        const tokens = tokenBody(yield* redeem(client, signedIn))
        assert.strictEqual(tokens.scope, "offline_access openid")
        assert.isString(tokens.refresh_token)
      }),
      { config: { scopes_supported: ["openid"] } },
    ),
  )

  it.effect("a refresh token only for clients allowed the refresh_token grant", () =>
    withProxy(
      Effect.gen(function* () {
        const codeOnly = yield* register({ grant_types: ["authorization_code"] })
        const signedIn = yield* signIn(codeOnly, { params: { scope: "openid offline_access" } })
        const tokens = tokenBody(yield* redeem(codeOnly, signedIn))
        assert.isUndefined(tokens.refresh_token)
        const refreshing = yield* register()
        const signedIn2 = yield* signIn(refreshing, { params: { scope: "openid" } })
        assert.isString(tokenBody(yield* redeem(refreshing, signedIn2)).refresh_token)
      }),
    ),
  )

  it.effect("never demanded in a 401 or 403 challenge, nor required for access, even when configured", () =>
    withProxy(
      Effect.gen(function* () {
        const missing = yield* LoadAccessToken.check(undefined)
        assert.strictEqual(missing._tag, "Deny")
        if (missing._tag === "Deny") {
          assert.strictEqual(missing.status, 401)
          assert.notInclude(BearerDecision.formatChallenge(missing.challenge), "offline_access")
        }
        const client = yield* register()
        const signedIn = yield* signIn(client, { params: { scope: "openid" }, upstream: { scope: "openid" } })
        const tokens = tokenBody(yield* redeem(client, signedIn))
        // The upstream recorded only openid: the token lacks offline_access and is still allowed.
        const allowed = yield* LoadAccessToken.check(tokens.access_token)
        assert.strictEqual(allowed._tag, "Allow")
        const denied = yield* LoadAccessToken.check(tokens.access_token, ["files:write"])
        assert.strictEqual(denied._tag, "Deny")
        if (denied._tag === "Deny") {
          assert.strictEqual(denied.status, 403)
          assert.notInclude(BearerDecision.formatChallenge(denied.challenge), "offline_access")
        }
      }),
      { config: { verification_mode: "id_token", required_scopes: ["offline_access"] } },
    ),
  )

  it.effect("asked of the upstream only when the upstream advertises it", () =>
    Effect.gen(function* () {
      const asked = (scopesSupported: ReadonlyArray<string> | null) =>
        withProxy(
          Effect.gen(function* () {
            const client = yield* register()
            const signedIn = yield* signIn(client, { params: { scope: "openid offline_access" } })
            return signedIn.upstreamUrl.searchParams.get("scope")
          }),
          { client: { scopesSupported } },
        )
      assert.strictEqual(yield* asked(["openid", "offline_access"]), "offline_access openid")
      assert.strictEqual(yield* asked(["openid"]), "openid")
      assert.strictEqual(
        yield* asked(null),
        "offline_access openid",
        "no scopes_supported: not known to lack it",
      )
    }),
  )
})

/**
 * Step-up re-authorization (MCP SEP-2350): with no consent page (`consent: off`), a client that
 * signs in again for the same subject and asks for more scopes keeps what it was granted before —
 * the union of the previous grant and the new request — remembered per client and subject in the
 * store. Issue 20, finding 10: the union never carries a scope the consent page did not list, one
 * the current policy no longer allows, or one from a revoked grant.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as BearerDecision from "../../src/BearerDecision.ts"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import * as Store from "../../src/Store.ts"
import { TestStore } from "../../src/testing/index.ts"
import {
  authorizeParams,
  consentViewOf,
  pkce,
  type Registered,
  redeem,
  register,
  revoke,
  signIn,
  tokenBody,
  withProxy,
} from "./support.ts"

const noConsentPage = { consent: "off" }

const scopesOf = (bearer: string, required: ReadonlyArray<string> = []) =>
  Effect.map(LoadAccessToken.check(bearer, required), (d) =>
    d._tag === "Allow" ? d.accessToken.scopes.join(" ") : `${d.status} ${d.challenge.scope ?? ""}`,
  )

const signInFor = (client: Registered, scope: string, sub = "user-1") =>
  Effect.gen(function* () {
    const signedIn = yield* signIn(client, { params: { scope }, upstream: { claims: { sub } } })
    return tokenBody(yield* redeem(client, signedIn))
  })

describe("StepUp", () => {
  it.effect("re-authorization - the new grant is the union of the previous grant and the new request", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const first = yield* signInFor(client, "openid files:read")
        assert.strictEqual(first.scope, "files:read openid")
        // The 403 for a missing scope lists required and granted scopes (one step to all of them).
        const denied = yield* LoadAccessToken.check(first.access_token, ["files:write"])
        assert.strictEqual(denied._tag, "Deny")
        if (denied._tag === "Deny")
          assert.strictEqual(
            BearerDecision.formatChallenge(denied.challenge).includes(
              'scope="files:read files:write openid"',
            ),
            true,
          )
        // The client steps up asking only for the missing scope: it keeps the earlier ones.
        const second = yield* signInFor(client, "files:write")
        assert.strictEqual(second.scope, "files:read files:write openid")
        assert.match(yield* scopesOf(second.access_token, ["files:read", "files:write"]), /files:read/)
        assert.strictEqual((yield* TestStore.TestStore.use((s) => s.keys("grant:"))).length, 1)
      }),
      { config: { verification_mode: "id_token", ...noConsentPage } },
    ),
  )

  it.effect("re-authorization - grants are per client and per subject", () =>
    withProxy(
      Effect.gen(function* () {
        const a = yield* register()
        const b = yield* register()
        yield* signInFor(a, "openid files:read", "alice")
        assert.strictEqual((yield* signInFor(a, "openid", "bob")).scope, "openid", "another subject")
        assert.strictEqual((yield* signInFor(b, "openid", "alice")).scope, "openid", "another client")
        assert.strictEqual((yield* signInFor(a, "openid", "alice")).scope, "files:read openid", "same pair")
      }),
      { config: noConsentPage },
    ),
  )

  it.effect(
    "re-authorization - after the family is revoked, a sign-in asking only openid gets only openid",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const first = yield* signInFor(client, "openid admin:write offline_access")
          assert.strictEqual(first.scope, "admin:write offline_access openid")
          yield* revoke(client, first.refresh_token!)
          const second = yield* signInFor(client, "openid")
          assert.strictEqual(second.scope, "openid")
          // What the bearer check reads (id_token mode: the upstream set's recorded scopes).
          assert.notInclude(yield* scopesOf(second.access_token), "admin:write")
        }),
        { config: { verification_mode: "id_token", ...noConsentPage } },
      ),
  )

  it.effect("re-authorization - scopes the server no longer offers are dropped from the union", () =>
    Effect.gen(function* () {
      // One store across two configurations, as across a restart with narrowed scopes_supported.
      const shared = Layer.succeed(Store.Store, yield* Store.makeMemory)
      const client = yield* withProxy(
        Effect.gen(function* () {
          const c = yield* register()
          assert.strictEqual((yield* signInFor(c, "openid admin")).scope, "admin openid")
          return c
        }),
        { store: shared, config: { scopes_supported: ["openid", "admin"], ...noConsentPage } },
      )
      yield* withProxy(
        Effect.gen(function* () {
          const again = yield* signInFor(client, "openid")
          assert.strictEqual(again.scope, "openid")
          assert.notInclude(yield* scopesOf(again.access_token), "admin")
        }),
        {
          store: shared,
          config: { scopes_supported: ["openid"], verification_mode: "id_token", ...noConsentPage },
        },
      )
    }),
  )

  it.effect("re-authorization with the consent page - the page lists every scope the code carries", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        yield* signInFor(client, "openid files:read")
        const { challenge } = yield* pkce
        const page = consentViewOf(
          yield* AuthorizationEndpoint.authorize(
            authorizeParams(client, challenge, { scope: "files:write" }),
            {},
          ),
        )
        const second = yield* signInFor(client, "files:write")
        assert.deepStrictEqual(page.scopes, ["files:write"])
        assert.strictEqual(second.scope, page.scopes.join(" "))
        assert.notInclude(yield* scopesOf(second.access_token), "files:read")
      }),
      { config: { verification_mode: "id_token" } },
    ),
  )
})

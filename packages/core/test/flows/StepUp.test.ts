/**
 * Step-up re-authorization (MCP SEP-2350): a client that signs in again for the same subject and
 * asks for more scopes keeps what it was granted before — the union of the previous grant and
 * the new request — remembered per client and subject in the store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Authorize from "../../src/Authorize.ts"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { TestStore } from "../../src/testing/index.ts"
import { type Registered, redeem, register, signIn, tokenBody, withProxy } from "./support.ts"

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
            Authorize.formatChallenge(denied.challenge).includes('scope="files:read files:write openid"'),
            true,
          )
        // The client steps up asking only for the missing scope: it keeps the earlier ones.
        const second = yield* signInFor(client, "files:write")
        assert.strictEqual(second.scope, "files:read files:write openid")
        assert.match(yield* scopesOf(second.access_token, ["files:read", "files:write"]), /files:read/)
        assert.strictEqual((yield* TestStore.TestStore.use((s) => s.keys("grant:"))).length, 1)
      }),
      { config: { verification_mode: "id_token" } },
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
    ),
  )
})

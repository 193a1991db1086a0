/**
 * The access rules at the upstream callback: a refused identity sends the client `access_denied`
 * (with state and iss, like every error after the transaction is taken) and stores nothing; in
 * access_token mode the id_token's claims (verified) are what the rules read.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as CallbackEndpoint from "../../src/flows/CallbackEndpoint.ts"
import { TestStore, TestUpstreamClient } from "../../src/testing/index.ts"
import { locationOf, register, toUpstream, withProxy } from "./support.ts"

const atIdp = (script: TestUpstreamClient.CodeScript) =>
  Effect.gen(function* () {
    const at = yield* toUpstream(yield* register())
    yield* (yield* TestUpstreamClient.TestUpstreamClient).setCode("upstream-code", script)
    return at
  })

const signIn = (script: TestUpstreamClient.CodeScript) =>
  Effect.gen(function* () {
    const { state, cookies } = yield* atIdp(script)
    const url = locationOf(yield* CallbackEndpoint.callback({ state, code: "upstream-code" }, cookies))
    assert.strictEqual(url.searchParams.get("state"), "client-state-1")
    assert.strictEqual(url.searchParams.get("iss"), "https://proxy.test")
    return url.searchParams
  })

const stored = (prefix: string) => Effect.flatMap(TestStore.TestStore, (s) => s.keys(prefix))

describe("CallbackEndpoint access rules", () => {
  for (const mode of ["id_token", "access_token"] as const)
    it.effect(`callback - ${mode} mode: an email outside the allowed domain is refused, nothing stored`, () =>
      withProxy(
        Effect.gen(function* () {
          const allowed = yield* signIn({ claims: { email: "ann@example.com", email_verified: true } })
          assert.isString(allowed.get("code"))
          for (const claims of [
            { email: "eve@evil.example", email_verified: true },
            { email: "ann@example.com", email_verified: false },
            { email: "ann@example.com" },
          ]) {
            const before = (yield* stored("upstream:")).length
            const q = yield* signIn({ claims })
            assert.strictEqual(q.get("error"), "access_denied")
            assert.match(q.get("error_description") ?? "", /not on the allowed list/)
            assert.notInclude(q.get("error_description") ?? "", "example")
            assert.isNull(q.get("code"))
            assert.strictEqual((yield* stored("upstream:")).length, before)
          }
          assert.strictEqual((yield* stored("code:")).length, 1)
        }),
        { config: { verification_mode: mode, access: { email_domains: ["example.com"] } } },
      ),
    )

  it.effect(
    "callback - access_token mode: the rules read the id_token (its claims over the access token's)",
    () =>
      withProxy(
        Effect.gen(function* () {
          // Groups only in the id_token: allowed; no id_token: nothing says the user is in the group.
          const inGroup = yield* signIn({ claims: { groups: ["ops"] }, accessClaims: { groups: [] } })
          assert.isString(inGroup.get("code"))
          const noIdToken = yield* signIn({ claims: { groups: [] }, idToken: false })
          assert.strictEqual(noIdToken.get("error"), "access_denied")
        }),
        { config: { verification_mode: "access_token", access: { groups: ["ops"] } } },
      ),
  )
})

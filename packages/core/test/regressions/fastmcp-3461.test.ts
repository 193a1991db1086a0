/**
 * FastMCP issue #3461: with `verify_id_token` on, an IdP that returns the same JWT as access_token
 * and id_token (SAP Cloud Identity Services) lost every scope, so every request got 403
 * `insufficient_scope`. Here the whole pipeline runs: upstream token response → stored token set →
 * proxy token → loadAccessToken → bearer check.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { issueAccessToken } from "../../src/IssueAccessToken.ts"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import * as Scopes from "../../src/Scopes.ts"
import { TokenStore } from "../../src/TokenStore.ts"
import { TestProxy, TestUpstream } from "../../src/testing/index.ts"
import type { VerificationMode } from "../../src/VerificationMode.ts"

const start = 1_800_000_000
const now = () => start

const scenario = (options: {
  readonly mode: VerificationMode
  readonly sameJwt: boolean
  readonly recorded: string
  readonly required: string
  readonly accessClaims?: Record<string, unknown>
}) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(start * 1000)
    const upstream = yield* TestUpstream.make()
    const idToken = yield* upstream.sign(
      { sub: "user-42", aud: upstream.clientId, exp: now() + 3600 },
      { now: start },
    )
    const accessToken = options.sameJwt
      ? idToken
      : yield* upstream.sign(
          { sub: "user-42", aud: "api://mcp", exp: now() + 3600, ...options.accessClaims },
          { now: start },
        )
    const config = TestProxy.config(upstream, {
      verification_mode: options.mode,
      required_scopes: Scopes.parse(options.required),
      upstream: { audience: "api://mcp" },
    })
    return yield* Effect.gen(function* () {
      const store = yield* TokenStore
      // The upstream token response, with no `scope` member: the recorded set is what was requested.
      yield* store.upstreamTokenSets.set(
        "ts-1",
        {
          id: "ts-1",
          access_token: accessToken,
          id_token: idToken,
          token_type: "Bearer",
          scope: Scopes.parse(options.recorded),
          expires_at: now() + 3600,
          raw: { token_type: "Bearer", expires_in: 3600 },
        },
        "1 hour",
      )
      const issued = yield* issueAccessToken({
        upstream_token_set_id: "ts-1",
        client_id: "mcp-client",
        subject: "user-42",
        scopes: Scopes.parse(options.recorded),
        lifetime: 3600,
      })
      return yield* LoadAccessToken.check(issued.access_token)
    }).pipe(Effect.provide(TestProxy.layer(upstream, config)))
  })

describe("regression fastmcp#3461", () => {
  it.effect(
    "same JWT as access and id token, no scope claim, id_token mode - allowed with the recorded scopes",
    () =>
      Effect.gen(function* () {
        const decision = yield* scenario({
          mode: "id_token",
          sameJwt: true,
          recorded: "openid offline_access",
          required: "openid offline_access",
        })
        assert.strictEqual(decision._tag, "Allow")
        if (decision._tag === "Allow") {
          assert.deepStrictEqual(decision.accessToken.scopes, ["offline_access", "openid"])
          assert.strictEqual(decision.accessToken.subject, "user-42")
          assert.strictEqual(decision.accessToken.client_id, "mcp-client")
        }
      }),
  )

  it.effect("distinct access and id tokens, id_token mode - allowed with the recorded scopes", () =>
    Effect.gen(function* () {
      const decision = yield* scenario({
        mode: "id_token",
        sameJwt: false,
        recorded: "openid offline_access",
        required: "openid offline_access",
        accessClaims: { scope: "unrelated" },
      })
      assert.strictEqual(decision._tag, "Allow")
      if (decision._tag === "Allow")
        assert.deepStrictEqual(decision.accessToken.scopes, ["offline_access", "openid"])
    }),
  )

  it.effect("access_token mode with an scp claim - the claim's scopes decide", () =>
    Effect.gen(function* () {
      const allowed = yield* scenario({
        mode: "access_token",
        sameJwt: false,
        recorded: "openid",
        required: "mcp.read",
        accessClaims: { scp: ["mcp.read", "mcp.write"] },
      })
      assert.strictEqual(allowed._tag, "Allow")
      if (allowed._tag === "Allow")
        assert.deepStrictEqual(allowed.accessToken.scopes, ["mcp.read", "mcp.write"])
      const denied = yield* scenario({
        mode: "access_token",
        sameJwt: false,
        recorded: "mcp.admin",
        required: "mcp.admin",
        accessClaims: { scp: "mcp.read" },
      })
      assert.deepStrictEqual(denied._tag === "Deny" ? [denied.status, denied.error] : [], [
        403,
        "insufficient_scope",
      ])
    }),
  )
})

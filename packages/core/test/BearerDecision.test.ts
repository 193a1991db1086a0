import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { AccessToken } from "../src/AccessToken.ts"
import * as BearerDecision from "../src/BearerDecision.ts"
import * as Scopes from "../src/Scopes.ts"
import { Arbitraries } from "../src/testing/index.ts"

const token = (
  scopes: ReadonlyArray<string>,
  expires_at: number,
  resource = "https://proxy.test/mcp",
): AccessToken => ({
  token: "t",
  client_id: "c",
  subject: "s",
  scopes: Scopes.normalize(scopes),
  expires_at,
  resource,
  claims: { iss: "https://idp.test" },
})

describe("BearerDecision.authorize", () => {
  it("allows exactly when required ⊆ scopes (offline_access aside) and the token is unexpired at the clock's time", () => {
    fc.assert(
      fc.property(
        Arbitraries.scopeList,
        Arbitraries.scopeList,
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (granted, required, expiresAt, now) => {
          const decision = BearerDecision.authorize(token(granted, expiresAt), {
            requiredScopes: Scopes.normalize(required),
            resource: "https://proxy.test/mcp",
            now,
          })
          // offline_access is never required for access (MCP SEP-2207).
          const needed = Scopes.normalize(required).filter((s) => s !== "offline_access")
          const expected = expiresAt > now && Scopes.isSubset(needed, Scopes.normalize(granted))
          expect(decision._tag === "Allow").toBe(expected)
          if (decision._tag === "Deny") expect(decision.status).toBe(expiresAt > now ? 403 : 401)
        },
      ),
    )
  })

  it("insufficient scope - 403 whose challenge lists required and granted scopes, never offline_access", () => {
    const decision = BearerDecision.authorize(token(["openid", "read", "offline_access"], 100), {
      requiredScopes: ["write", "offline_access"],
      resource: "https://proxy.test/mcp",
      now: 1,
    })
    expect(decision).toMatchObject({ _tag: "Deny", status: 403, error: "insufficient_scope" })
    if (decision._tag !== "Deny") throw new Error("expected Deny")
    expect(decision.challenge.scope).toBe("openid read write")
    expect(BearerDecision.formatChallenge(decision.challenge)).toBe(
      'Bearer scope="openid read write", error="insufficient_scope", error_description="The request requires the scope: write"',
    )
  })

  it("another resource - 401 invalid_token", () => {
    const decision = BearerDecision.authorize(token(["a"], 100, "https://other.test/mcp"), {
      requiredScopes: [],
      resource: "https://proxy.test/mcp",
      now: 1,
    })
    expect(decision).toMatchObject({ _tag: "Deny", status: 401, error: "invalid_token" })
  })

  it("no credentials - 401 with a challenge that has a scope and no error", () => {
    const deny = BearerDecision.unauthenticated(["openid", "offline_access", "read"])
    expect(deny.status).toBe(401)
    expect(deny.error).toBeUndefined()
    expect(
      BearerDecision.formatChallenge({ ...deny.challenge, resource_metadata: "https://p/.well-known/x" }),
    ).toBe('Bearer resource_metadata="https://p/.well-known/x", scope="openid read"')
  })

  it("formatChallenge - quotes and escapes parameter values", () => {
    expect(BearerDecision.formatChallenge({ error_description: 'a "b" \\ c\nd' })).toBe(
      'Bearer error_description="a \\"b\\" \\\\ c d"',
    )
  })
})

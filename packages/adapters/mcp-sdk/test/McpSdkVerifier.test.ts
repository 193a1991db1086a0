/**
 * `toAuthInfo`: the proxy's `AccessToken` as the SDK's `AuthInfo`. (The error mapping runs end to
 * end in McpSdkFlow.test.ts, through the SDK's own `requireBearerAuth`.)
 */
import { describe, expect, it } from "vitest"
import { McpSdkVerifier } from "../src/index.ts"

describe("McpSdkVerifier", () => {
  it("toAuthInfo - token, client, resolved scopes, expiry, resource as URL, subject and claims", () => {
    const info = McpSdkVerifier.toAuthInfo({
      token: "proxy.jwt.value",
      client_id: "c1",
      subject: "ada",
      scopes: ["mcp:read", "openid"],
      expires_at: 1_900_000_000,
      resource: "https://mcp.example/mcp",
      claims: { iss: "https://idp.example", sub: "ada", email: "ada@example.test" },
    })
    expect(info).toEqual({
      token: "proxy.jwt.value",
      clientId: "c1",
      scopes: ["mcp:read", "openid"],
      expiresAt: 1_900_000_000,
      resource: new URL("https://mcp.example/mcp"),
      extra: {
        subject: "ada",
        claims: { iss: "https://idp.example", sub: "ada", email: "ada@example.test" },
      },
    })
  })

  it("toAuthInfo - no resource when the token names none", () => {
    const info = McpSdkVerifier.toAuthInfo({
      token: "t",
      client_id: "c1",
      subject: "ada",
      scopes: [],
      expires_at: 1,
      claims: { iss: "https://idp.example", sub: "ada" },
    })
    expect("resource" in info).toBe(false)
  })
})

/**
 * The whole flow with real parts: the MCP TypeScript SDK client discovers the proxy, registers
 * (DCR), authorizes through the proxy's consent page and a real OIDC provider's login, gets tokens,
 * calls a tool on the MCP server behind the proxy, refreshes, revokes, and is refused.
 */
import { HeadlessBrowser, McpClient } from "@oidc-proxy/testbed"
import { decodeJwt } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Harness from "../src/Harness.ts"

const interact = HeadlessBrowser.firstOf(
  HeadlessBrowser.pressButton("decision", "approve"),
  HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
)

const whoami = async (client: Awaited<ReturnType<typeof McpClient.connectWithOAuth>>["client"]) => {
  const result = await client.callTool({ name: "whoami", arguments: {} })
  return result.structuredContent as {
    user: string | null
    email: string | null
    scopes: string | null
    client_id: string | null
  }
}

const form = (params: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
})

describe("MCP SDK client through oidc-proxy to oidc-provider", () => {
  let h: Harness.Harness
  beforeAll(async () => {
    h = await Harness.start({ requiredScopes: ["mcp:read"] })
  }, 30_000)
  afterAll(() => h?.close())

  it("discovery → DCR → consent → upstream login → token → tool call → refresh → revoke → 401", async () => {
    const { client, provider } = await McpClient.connectWithOAuth(h.resourceUrl, {
      interact,
      scope: "openid email offline_access mcp:read",
    })
    const steps = provider.transcript.map((t) => `${t.method} ${new URL(t.url).pathname}`)
    expect(steps).toContain("POST /register")
    expect(steps.some((s) => s.startsWith("GET /.well-known/oauth-protected-resource"))).toBe(true)
    expect(steps.some((s) => s.startsWith("GET /.well-known/oauth-authorization-server"))).toBe(true)

    const me = await whoami(client)
    expect(me.user).toBe("ada")
    // access_token mode: the scopes are the upstream access token's `scope` claim.
    expect(me.scopes).toBe("mcp:read")
    expect(me.client_id).toBe(provider.clientInformation()?.client_id)

    const tokens = provider.tokens()!
    expect(decodeJwt(tokens.access_token).aud).toBe(h.resourceUrl)
    expect(tokens.refresh_token).toBeDefined()
    const clientId = provider.clientInformation()!.client_id

    // Refresh: rotation gives a new pair; the new access token works.
    const refreshed = await fetch(
      `${h.proxyUrl}/token`,
      form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: clientId }),
    )
    expect(refreshed.status).toBe(200)
    expect(refreshed.headers.get("cache-control")).toBe("no-store")
    const pair = (await refreshed.json()) as { access_token: string; refresh_token: string }
    expect(pair.refresh_token).not.toBe(tokens.refresh_token)
    const call = (token: string) =>
      McpClient.postJsonRpc(h.resourceUrl, token, { method: "tools/list", params: {} })
    expect((await call(pair.access_token)).status).toBe(200)

    // Revoke the refresh token: the whole family goes, the new access token is refused.
    const revoked = await fetch(
      `${h.proxyUrl}/revoke`,
      form({ token: pair.refresh_token, client_id: clientId }),
    )
    expect(revoked.status).toBe(200)
    const refused = await call(pair.access_token)
    expect(refused.status).toBe(401)
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"')
    expect(refused.headers.get("www-authenticate")).toContain("resource_metadata=")
    const reuse = await fetch(
      `${h.proxyUrl}/token`,
      form({ grant_type: "refresh_token", refresh_token: pair.refresh_token, client_id: clientId }),
    )
    expect(reuse.status).toBe(400)
    expect(((await reuse.json()) as { error: string }).error).toBe("invalid_grant")
    await client.close()
  }, 60_000)

  it("no credentials → 401 with resource_metadata and no error", async () => {
    const res = await fetch(h.resourceUrl, { method: "POST", body: "{}" })
    expect(res.status).toBe(401)
    const challenge = res.headers.get("www-authenticate") ?? ""
    expect(challenge).toContain(`resource_metadata="${h.proxyUrl}/.well-known/oauth-protected-resource/mcp"`)
    expect(challenge).not.toContain("error=")
  })
})

describe("same JWT as access and id token (SAP CIS style), verify id_token", () => {
  let h: Harness.Harness
  beforeAll(async () => {
    h = await Harness.start({
      sameJwt: true,
      verifyIdToken: true,
      requiredScopes: ["openid", "offline_access"],
      upstreamScopes: ["openid"],
    })
  }, 30_000)
  afterAll(() => h?.close())

  it("the MCP request succeeds and sees exactly the recorded scopes", async () => {
    const { client } = await McpClient.connectWithOAuth(h.resourceUrl, {
      interact,
      scope: "openid offline_access",
    })
    const me = await whoami(client)
    expect(me.user).toBe("ada")
    expect(me.scopes).toBe("offline_access openid")
    await client.close()
  }, 60_000)
})

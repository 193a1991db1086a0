/**
 * The MCP SDK server kit with the proxy in-process, end to end with real parts: the real MCP SDK
 * client discovers the Express app, registers, passes the proxy's consent page and oidc-provider's
 * login, and calls a tool that sees `req.auth` from `requireBearerAuth` + `McpSdkVerifier`.
 */
import { Store } from "@oidc-proxy/core"
import { HeadlessBrowser, McpClient } from "@oidc-proxy/testbed"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as ExpressMcp from "./support/ExpressMcp.ts"

const interact = HeadlessBrowser.firstOf(
  HeadlessBrowser.pressButton("decision", "approve"),
  HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
)

const mcpCall = (url: string, token: string | undefined) =>
  fetch(url, {
    method: "POST",
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  })

describe("McpSdk: requireBearerAuth + McpSdkVerifier + McpSdkRouter on Express", () => {
  let app: ExpressMcp.Running
  // Flipped by a test to make every store read fail, as a store outage would.
  let storeDown = false
  const store = Store.layerTest((memory) => ({
    get: (key) =>
      Effect.suspend(() =>
        storeDown ? Effect.fail(Store.storeError("get", new Error("down"))) : memory.get(key),
      ),
  }))

  beforeAll(async () => {
    app = await ExpressMcp.start({ store })
  }, 30_000)
  afterAll(() => app?.close())

  it("the SDK client completes OAuth through the in-process proxy; the tool sees subject and scopes", async () => {
    const { client, provider } = await McpClient.connectWithOAuth(app.resourceUrl, {
      interact,
      scope: "openid email offline_access mcp:read",
    })
    try {
      const steps = provider.transcript.map((t) => `${t.method} ${new URL(t.url).pathname}`)
      expect(steps).toContain("GET /.well-known/oauth-protected-resource/mcp")
      expect(steps).toContain("GET /.well-known/oauth-authorization-server")
      expect(steps).toContain("POST /register")
      expect(steps).toContain("POST /consent")
      expect(steps).toContain("POST /token")

      const result = await client.callTool({ name: "whoami", arguments: {} })
      const me = result.structuredContent as unknown as ExpressMcp.WhoAmI
      expect(me.subject).toBe("ada")
      expect(me.claims_sub).toBe("ada")
      // access_token mode: the upstream access token's `scope` claim, resolved by the proxy.
      expect(me.scopes).toBe("mcp:read")
      expect(me.client_id).toBe(provider.clientInformation()?.client_id)
      expect(me.resource).toBe(app.resourceUrl)
      expect(me.expires_at).toBeGreaterThan(Date.now() / 1000)

      // The same token with a padded last segment: another spelling, refused as every edge refuses it.
      const token = (await provider.tokens())?.access_token ?? ""
      expect((await mcpCall(app.resourceUrl, token)).status).not.toBe(401)
      const padded = await mcpCall(app.resourceUrl, `${token}=`)
      expect(padded.status).toBe(401)
      expect(padded.headers.get("www-authenticate")).toContain("The access token is not a well-formed JWT")
      const huge = await mcpCall(app.resourceUrl, `${token}${"A".repeat(8192)}`)
      expect(huge.status).toBe(401)
      expect(huge.headers.get("www-authenticate")).toContain("The access token is too large")
    } finally {
      await client.close()
    }
  }, 30_000)

  it("no token → 401 with the proxy's resource_metadata and the required scope", async () => {
    const res = await mcpCall(app.resourceUrl, undefined)
    expect(res.status).toBe(401)
    const challenge = res.headers.get("www-authenticate") ?? ""
    expect(challenge).toContain(`resource_metadata="${app.url}/.well-known/oauth-protected-resource/mcp"`)
    expect(challenge).toContain('scope="mcp:read"')
  })

  it("a bad token → 401 invalid_token with the proxy's challenge", async () => {
    const res = await mcpCall(app.resourceUrl, "not-a-proxy-token")
    expect(res.status).toBe(401)
    const challenge = res.headers.get("www-authenticate") ?? ""
    expect(challenge).toMatch(/^Bearer error="invalid_token"/)
    expect(challenge).toContain(`resource_metadata="${app.proxy.resourceMetadataUrl}"`)
    expect(((await res.json()) as { error: string }).error).toBe("invalid_token")
  })

  it("a store outage is a 500 server_error, not a 401 that would send the client to re-authorize", async () => {
    // Tokens through the SDK's auth() alone: never presented yet, so no verified-token cache can
    // answer for them and the check must reach the store.
    const provider = new McpClient.HeadlessOAuthProvider({
      interact,
      scope: "openid email offline_access mcp:read",
    })
    expect(await McpClient.authorizeWithSdk(app.resourceUrl, provider)).toBe("AUTHORIZED")
    const token = provider.tokens()!.access_token
    storeDown = true
    try {
      const res = await mcpCall(app.resourceUrl, token)
      expect(res.status).toBe(500)
      expect(res.headers.get("www-authenticate")).toBeNull()
      const body = (await res.json()) as { error: string; error_description: string }
      expect(body).toEqual({
        error: "server_error",
        error_description: "The authorization server is temporarily unavailable",
      })
    } finally {
      storeDown = false
    }
    // The same token works once the store is back: the outage did not condemn it.
    expect((await mcpCall(app.resourceUrl, token)).status).toBe(200)
  }, 30_000)
})

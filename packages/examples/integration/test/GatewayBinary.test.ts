import { join } from "node:path"
import { HeadlessBrowser, LocalIdpGateway, McpClient } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

describe("oidc-proxy binary", () => {
  let bed: LocalIdpGateway.LocalIdpGateway

  beforeAll(async () => {
    bed = await LocalIdpGateway.start({
      dirPrefix: "oidc-proxy-bin-",
      env: ({ dir }) => ({
        OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
        OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
        OIDC_PROXY_SECRET: "binary-test-secret-0123456789-abcdefghij",
      }),
    })
  }, 30_000)

  afterAll(() => bed?.close())

  it("forwards with identity headers; forged X-Auth-Request-* never reach the target; logs hold no tokens", async () => {
    const { client, provider } = await McpClient.connectWithOAuth(`${bed.url}/mcp`, {
      interact: HeadlessBrowser.approveAs("ada"),
      scope: "openid email offline_access mcp:read",
      requestInit: {
        headers: {
          "X-Auth-Request-User": "mallory",
          "X-Auth-Request-Scopes": "admin",
          "X-Auth-Request-Email": "mallory@evil.test",
          "X-Forwarded-Access-Token": "forged",
        },
      },
    })
    const result = await client.callTool({ name: "whoami", arguments: {} })
    expect(result.structuredContent).toMatchObject({ user: "ada", scopes: "mcp:read" })
    const seen = bed.mcp.requests.filter((r) => r.method === "POST")
    expect(seen.length).toBeGreaterThan(0)
    for (const r of seen) {
      expect(r.headers["x-auth-request-user"]).toBe("ada")
      expect(r.headers["x-auth-request-scopes"]).toBe("mcp:read")
      expect(r.headers["x-auth-request-email"]).not.toBe("mallory@evil.test")
      expect(r.headers["x-forwarded-access-token"]).toBeUndefined()
      expect(r.headers.authorization).toBeUndefined()
    }
    await client.close()
    const tokens = provider.tokens()!
    const logs = bed.gateway.output()
    expect(logs).not.toContain(tokens.access_token)
    expect(logs).not.toContain(tokens.refresh_token!)
    expect(logs).not.toContain(bed.idp.clients[0]!.client_secret)
  }, 60_000)
})

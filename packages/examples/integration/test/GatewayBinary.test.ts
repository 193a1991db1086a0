/**
 * The `oidc-proxy` binary as a child process, configured only through the environment, in front of
 * a real MCP server, against a real OIDC provider, driven by the real MCP SDK client: the target
 * sees the caller's identity headers, and forged `X-Auth-Request-*` headers never reach it.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { GatewayProcess, HeadlessBrowser, LocalIdp, McpClient, McpServer, Ports } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

describe("oidc-proxy binary", () => {
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let gateway: GatewayProcess.GatewayProcess
  let url = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-bin-"))

  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
    mcp = await McpServer.startMcpServer()
    url = `http://127.0.0.1:${await Ports.freePort()}`
    gateway = await GatewayProcess.spawnGateway(url, {
      ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
      OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
      OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
      OIDC_PROXY_SECRET: "binary-test-secret-0123456789-abcdefghij",
    })
  }, 30_000)

  afterAll(async () => {
    await gateway?.stop()
    await mcp?.close()
    await idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("forwards with identity headers; forged X-Auth-Request-* never reach the target; logs hold no tokens", async () => {
    const { client, provider } = await McpClient.connectWithOAuth(`${url}/mcp`, {
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
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
    const seen = mcp.requests.filter((r) => r.method === "POST")
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
    const logs = gateway.output()
    expect(logs).not.toContain(tokens.access_token)
    expect(logs).not.toContain(tokens.refresh_token!)
    expect(logs).not.toContain(idp.clients[0]!.client_secret)
  }, 60_000)
})

/**
 * A second real OpenID Provider that nobody here wrote: Debian's glewlwyd (2.7), started by the
 * test with its own config and SQLite database, set up through its admin API. The `oidc-proxy`
 * binary in front of a real MCP server, driven by the real MCP SDK client: sign-in through
 * glewlwyd's login and grant, a tool call that sees glewlwyd's user, refresh (which refreshes at
 * glewlwyd too), revocation, and 401 afterwards.
 *
 * Without glewlwyd installed the suite is skipped with a message locally; in CI it fails.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { GatewayProcess, Glewlwyd, HeadlessBrowser, McpClient, McpServer, Ports } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const inCi = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false"
if (!Glewlwyd.available) {
  if (inCi) throw new Error("glewlwyd is required in CI; .ci/run installs it (apt-get install -y glewlwyd)")
  console.warn("[glewlwyd] skipped: glewlwyd is not installed (apt-get install -y glewlwyd)")
}

const form = (params: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
})

describe.skipIf(!Glewlwyd.available)("MCP SDK client through the oidc-proxy binary to glewlwyd", () => {
  let idp: Glewlwyd.Glewlwyd
  let mcp: McpServer.RunningMcpServer
  let gateway: GatewayProcess.GatewayProcess
  let url = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-glewlwyd-"))

  beforeAll(async () => {
    url = `http://127.0.0.1:${await Ports.freePort()}`
    idp = await Glewlwyd.startGlewlwyd({
      redirectUris: [`${url}/auth/callback`],
      resource: `${url}/mcp`,
      // Within the gateway's 60 s refresh skew: every use of the session refreshes at glewlwyd.
      accessTokenSeconds: 60,
    })
    mcp = await McpServer.startMcpServer()
    gateway = await GatewayProcess.spawnGateway(url, {
      OIDC_PROXY_BASE_URL: url,
      OIDC_PROXY_TARGET: mcp.url,
      OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
      OIDC_PROXY_UPSTREAM_CLIENT_ID: idp.client.client_id,
      OIDC_PROXY_UPSTREAM_CLIENT_SECRET: idp.client.client_secret,
      OIDC_PROXY_UPSTREAM_SCOPES: "openid mcp:read",
      // glewlwyd sets the access token's aud to the requested resource (else to the scope list).
      OIDC_PROXY_UPSTREAM_EXTRA_PARAMS: `resource=${encodeURIComponent(`${url}/mcp`)}`,
      OIDC_PROXY_UPSTREAM_AUDIENCE: `${url}/mcp`,
      // glewlwyd never sends email_verified.
      OIDC_PROXY_TRUST_UNVERIFIED_EMAIL: "true",
      OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
      OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
      OIDC_PROXY_SECRET: "glewlwyd-test-secret-0123456789-abcdefghij",
    })
  }, 60_000)

  afterAll(async () => {
    await gateway?.stop()
    await mcp?.close()
    await idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("sign-in → whoami as glewlwyd's user → refresh (at glewlwyd too) → revoke (at glewlwyd too) → 401", async () => {
    const browser = new HeadlessBrowser.HeadlessBrowser()
    const { client, provider } = await McpClient.connectWithOAuth(`${url}/mcp`, {
      browser,
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        Glewlwyd.glewlwydLogin(browser, idp.user),
      ),
      scope: "openid offline_access mcp:read",
    })
    const subject = idp.subjectOf(idp.user.username)
    expect(subject).toMatch(/^\w{8,}$/)
    const result = await client.callTool({ name: "whoami", arguments: {} })
    // access_token mode: user = the access token's sub, scopes = its `scope` claim (glewlwyd keeps
    // openid there), email = the claim glewlwyd adds from the user's profile.
    expect(result.structuredContent).toEqual({
      user: subject,
      email: idp.user.email,
      scopes: "mcp:read openid",
      client_id: provider.clientInformation()?.client_id,
    })
    await client.close()

    const tokens = provider.tokens()!
    const clientId = provider.clientInformation()!.client_id
    expect(tokens.refresh_token).toBeDefined()
    const issuedBefore = idp.accessTokensIssued()
    const refreshed = await fetch(
      `${url}/token`,
      form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: clientId }),
    )
    expect(refreshed.status).toBe(200)
    const pair = (await refreshed.json()) as { access_token: string; refresh_token: string }
    // The upstream access token lives 60 s, within the gateway's refresh skew: glewlwyd refreshed.
    expect(idp.accessTokensIssued()).toBeGreaterThan(issuedBefore)
    const call = (token: string) =>
      McpClient.postJsonRpc(`${url}/mcp`, token, { method: "tools/list", params: {} })
    expect((await call(pair.access_token)).status).toBe(200)

    expect(idp.activeRefreshTokens()).toBeGreaterThan(0)
    const revoked = await fetch(`${url}/revoke`, form({ token: pair.refresh_token, client_id: clientId }))
    expect(revoked.status).toBe(200)
    const refused = await call(pair.access_token)
    expect(refused.status).toBe(401)
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"')
    // The gateway revoked its upstream refresh token at glewlwyd as well.
    expect(idp.activeRefreshTokens()).toBe(0)

    const logs = gateway.output()
    expect(logs).not.toContain(idp.client.client_secret)
    expect(logs).not.toContain(pair.access_token)
  }, 60_000)
})

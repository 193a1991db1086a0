/**
 * The id_token identity fallback end to end: the `oidc-proxy` binary in access_token mode, signed
 * in to a real OIDC provider whose access tokens carry no `email` (Auth0's shape: `iss`, `sub`,
 * `aud`, `scope`, times), by the real MCP SDK client. The id_token verified at the callback has the
 * email, so the MCP server receives `X-Auth-Request-Email` and a policy rule on the email's domain
 * matches — while the scopes stay the access token's.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { GatewayProcess, HeadlessBrowser, LocalIdp, McpClient, McpServer, Ports } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const policy = `default: deny
rules:
  - id: handshake
    effect: allow
    methods: [initialize, "notifications/*", ping, tools/list]
  - id: example-staff
    effect: allow
    tools: [whoami, staff_only]
    when:
      email_domains: [example.test]
  - id: partners
    effect: allow
    tools: [partners_only]
    when:
      email_domains: [partner.test]
`

describe("identity from the id_token when the access token has no email (oidc-proxy binary)", () => {
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let gateway: GatewayProcess.GatewayProcess
  let url = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-idclaims-"))
  const policyFile = join(dir, "policy.yaml")
  const accessTokens: Array<Record<string, unknown>> = []

  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
      // The default account (ada, ada@example.test, verified) in the id_token; none of it here.
      accessTokenShape: {
        claims: (t, granted) => {
          const claims = {
            iss: t["iss"],
            sub: t["sub"],
            aud: t["aud"],
            iat: t["iat"],
            exp: t["exp"],
            azp: t["client_id"],
            scope: granted.scope,
          }
          accessTokens.push(claims)
          return claims
        },
      },
    })
    mcp = await McpServer.startMcpServer({ tools: ["staff_only", "partners_only"] })
    url = `http://127.0.0.1:${await Ports.freePort()}`
    writeFileSync(policyFile, policy)
    gateway = await GatewayProcess.spawnGateway(
      url,
      {
        ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
        OIDC_PROXY_SECRET: "idclaims-test-secret-0123456789-abcdefgh",
        OIDC_PROXY_STORE: "memory",
        OIDC_PROXY_POLICY: policyFile,
      },
      { readyTimeoutMs: 60_000 },
    )
  }, 90_000)

  afterAll(async () => {
    await gateway?.stop()
    await mcp?.close()
    await idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("the MCP server gets the id_token's email header and an email-domain rule matches", async () => {
    const { client } = await McpClient.connectWithOAuth(`${url}/mcp`, {
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
      scope: "openid email",
    })
    // The upstream access token really had no email.
    expect(accessTokens.length).toBeGreaterThan(0)
    for (const claims of accessTokens) expect(claims).not.toHaveProperty("email")

    const whoami = await client.callTool({ name: "whoami", arguments: {} })
    expect(whoami.structuredContent).toMatchObject({ user: "ada", email: "ada@example.test" })
    // The scopes are the upstream access token's `scope`, nothing of the id_token's.
    const granted = String(accessTokens.at(-1)!["scope"]).split(" ").sort()
    expect((whoami.structuredContent as { scopes: string }).scopes.split(" ").sort()).toEqual(granted)
    const forwarded = mcp.requests.at(-1)!.headers
    expect(forwarded["x-auth-request-email"]).toBe("ada@example.test")

    // The domain rule matches ada's domain and no other: listed and callable, the other refused.
    const names = (await client.listTools()).tools.map((t) => t.name).sort()
    expect(names).toEqual(["staff_only", "whoami"])
    const called = await client.callTool({ name: "staff_only", arguments: {} })
    expect(called.content).toEqual([{ type: "text", text: "staff_only" }])
    await expect(client.callTool({ name: "partners_only", arguments: {} })).rejects.toThrow(/-32001/)
    await client.close()
  }, 90_000)
})

/**
 * `tools/list` filtering end to end: the `oidc-proxy` binary with `OIDC_PROXY_POLICY`, in front of a
 * real MCP server (answering as an event stream, the SDK's Streamable HTTP mode), signed in to a
 * real OIDC provider by the real MCP SDK client. The list the client receives holds what the policy
 * would let it call: a denied tool is absent, an allowed one and a step-up one present; a SIGHUP with
 * another policy changes the list at once, on the same connection.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  GatewayProcess,
  HeadlessBrowser,
  LocalIdp,
  McpClient,
  McpServer,
  Polling,
  Ports,
} from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const handshake = `  - id: handshake
    effect: allow
    methods: [initialize, "notifications/*", ping, tools/list]
`

/** `read_notes` allowed, `delete_project` behind a step-up scope, `admin_panel` and the rest denied. */
const firstPolicy = `default: deny
rules:
${handshake}  - id: readers
    effect: allow
    tools: [whoami, read_notes]
  - id: deleters
    effect: allow
    tools: [delete_project]
    scopes: [mcp:admin]
`

/** After the reload: `read_notes` denied outright, `admin_panel` allowed. */
const secondPolicy = `default: deny
rules:
${handshake}  - id: no-notes
    effect: deny
    tools: [read_notes]
  - id: admins
    effect: allow
    tools: [whoami, admin_panel]
`

describe("tools/list filtered by the policy through the oidc-proxy binary", () => {
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let gateway: GatewayProcess.GatewayProcess
  let url = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-list-"))
  const policyFile = join(dir, "policy.yaml")

  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
    mcp = await McpServer.startMcpServer({
      tools: ["read_notes", "delete_project", "admin_panel"],
      jsonResponse: false,
    })
    url = `http://127.0.0.1:${await Ports.freePort()}`
    writeFileSync(policyFile, firstPolicy)
    gateway = await GatewayProcess.spawnGateway(
      url,
      {
        ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
        OIDC_PROXY_SECRET: "list-filter-test-secret-0123456789-abcdef",
        OIDC_PROXY_STORE: "memory",
        OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
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

  it("a denied tool is absent, an allowed and a step-up tool present; a SIGHUP with another policy changes the list", async () => {
    const provider = new McpClient.HeadlessOAuthProvider({
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
      scope: "openid email mcp:read",
    })
    const { client } = await McpClient.connectWithOAuth(`${url}/mcp`, { provider })
    const names = async () => (await client.listTools()).tools.map((t) => t.name).sort()

    // The server lists all four; the token lacks mcp:admin, so delete_project stays visible (the
    // client must see it to meet its step-up challenge); admin_panel matches no rule: default deny.
    expect(await names()).toEqual(["delete_project", "read_notes", "whoami"])
    // Not a hidden-but-callable tool: the call is refused like the listing.
    await expect(client.callTool({ name: "admin_panel", arguments: {} })).rejects.toThrow(/-32001/)

    writeFileSync(policyFile, secondPolicy)
    gateway.child.kill("SIGHUP")
    await Polling.waitFor(
      "the reload's log line",
      async () => (gateway.output().includes('"policy reloaded"') ? true : undefined),
      { timeoutMs: 10_000 },
    )
    expect(await names()).toEqual(["admin_panel", "whoami"])
    const called = await client.callTool({ name: "admin_panel", arguments: {} })
    expect(called.content).toEqual([{ type: "text", text: "admin_panel" }])
    await client.close()
    expect(gateway.child.exitCode).toBeNull()
  }, 90_000)
})

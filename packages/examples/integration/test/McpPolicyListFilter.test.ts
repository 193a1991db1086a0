/**
 * `tools/list` filtering end to end: the `oidc-proxy` binary with `OIDC_PROXY_POLICY`, in front of a
 * real MCP server (answering as an event stream, the SDK's Streamable HTTP mode), signed in to a
 * real OIDC provider by the real MCP SDK client. The list the client receives holds what the policy
 * would let it call: a denied tool is absent, an allowed one and a step-up one present; a SIGHUP with
 * another policy changes the list at once, on the same connection.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { HeadlessBrowser, LocalIdpGateway, McpClient, Polling } from "@oidc-proxy/testbed"
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
  let bed: LocalIdpGateway.LocalIdpGateway
  const policyFile = () => join(bed.dir, "policy.yaml")

  beforeAll(async () => {
    bed = await LocalIdpGateway.start({
      mcp: { tools: ["read_notes", "delete_project", "admin_panel"], jsonResponse: false },
      dirPrefix: "oidc-proxy-list-",
      files: { "policy.yaml": firstPolicy },
      env: ({ dir }) => ({
        OIDC_PROXY_SECRET: "list-filter-test-secret-0123456789-abcdef",
        OIDC_PROXY_STORE: "memory",
        OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
        OIDC_PROXY_POLICY: join(dir, "policy.yaml"),
      }),
      spawn: { readyTimeoutMs: 60_000 },
    })
  }, 90_000)

  afterAll(() => bed?.close())

  it("a denied tool is absent, an allowed and a step-up tool present; a SIGHUP with another policy changes the list", async () => {
    const provider = new McpClient.HeadlessOAuthProvider({
      interact: HeadlessBrowser.approveAs("ada"),
      scope: "openid email mcp:read",
    })
    const { client } = await McpClient.connectWithOAuth(`${bed.url}/mcp`, { provider })
    const names = async () => (await client.listTools()).tools.map((t) => t.name).sort()

    // The server lists all four; the token lacks mcp:admin, so delete_project stays visible (the
    // client must see it to meet its step-up challenge); admin_panel matches no rule: default deny.
    expect(await names()).toEqual(["delete_project", "read_notes", "whoami"])
    // Not a hidden-but-callable tool: the call is refused like the listing.
    await expect(client.callTool({ name: "admin_panel", arguments: {} })).rejects.toThrow(/-32001/)

    writeFileSync(policyFile(), secondPolicy)
    bed.gateway.child.kill("SIGHUP")
    await Polling.waitFor(
      "the reload's log line",
      async () => (bed.gateway.output().includes('"policy reloaded"') ? true : undefined),
      { timeoutMs: 10_000 },
    )
    expect(await names()).toEqual(["admin_panel", "whoami"])
    const called = await client.callTool({ name: "admin_panel", arguments: {} })
    expect(called.content).toEqual([{ type: "text", text: "admin_panel" }])
    await client.close()
    expect(bed.gateway.child.exitCode).toBeNull()
  }, 90_000)
})

/**
 * The MCP policy end to end: the `oidc-proxy` binary with a policy file and the audit on stdout, in
 * front of a real MCP server, against a real OIDC provider, driven by the real MCP SDK client. A
 * tool whose rule needs a scope the token lacks answers 403 `insufficient_scope`; the SDK client
 * re-authorizes with the challenged scope, retries and succeeds. A call no scope can fix is a
 * JSON-RPC error the client sees as such. Every call leaves one audit line without a token.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { HeadlessBrowser, LocalIdpGateway, McpClient, Polling } from "@oidc-proxy/testbed"
import { decodeJwt } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const policy = `default: deny
rules:
  - id: handshake
    effect: allow
    methods: [initialize, "notifications/*", ping, tools/list]
  - id: whoami-writers
    effect: allow
    tools: [whoami]
    scopes: [mcp:write]
`

/**
 * The SDK refreshes before it re-authorizes, and a refresh keeps the narrow grant (see the
 * reference notes on SDK 1.32): a client that keeps no refresh token goes to the authorization
 * endpoint with the challenged scope, which is the flow under test.
 */
type OAuthTokens = Parameters<McpClient.HeadlessOAuthProvider["saveTokens"]>[0]

class NoRefreshProvider extends McpClient.HeadlessOAuthProvider {
  override saveTokens(tokens: OAuthTokens): void {
    const { refresh_token: _dropped, ...rest } = tokens
    super.saveTokens(rest)
  }
}

describe("MCP policy step-up through the oidc-proxy binary", () => {
  let bed: LocalIdpGateway.LocalIdpGateway

  beforeAll(async () => {
    bed = await LocalIdpGateway.start({
      dirPrefix: "oidc-proxy-policy-",
      files: { "policy.yaml": policy },
      env: ({ dir }) => ({
        OIDC_PROXY_SECRET: "policy-test-secret-0123456789-abcdefghij",
        OIDC_PROXY_STORE: "memory",
        OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
        OIDC_PROXY_POLICY: join(dir, "policy.yaml"),
        OIDC_PROXY_AUDIT: "stdout",
      }),
    })
  }, 30_000)

  afterAll(() => bed?.close())

  it("tools/call - 403 insufficient_scope, the SDK client re-authorizes with the larger scope, retries, succeeds", async () => {
    const provider = new NoRefreshProvider({
      interact: HeadlessBrowser.approveAs("ada"),
      scope: "openid email mcp:read",
    })
    const { client } = await McpClient.connectWithOAuth(`${bed.url}/mcp`, { provider })
    expect(decodeJwt(provider.tokens()!.access_token)["scope"]).toBe("mcp:read")
    // Listed: only a scope is missing, so the client must see the tool to meet its challenge.
    expect((await client.listTools()).tools.map((t) => t.name)).toContain("whoami")
    const authorizations = provider.authorizationUrls.length

    // The challenge: the transport re-authorizes with its scope, and the browser step ends in a code.
    const first = await client.callTool({ name: "whoami", arguments: {} }).catch((e: unknown) => e)
    // The SDK's `UnauthorizedError`: the browser step ran, the application finishes it.
    expect(String(first)).toBe("Error: Unauthorized")
    expect(provider.authorizationUrls.length).toBe(authorizations + 1)
    const stepUp = provider.authorizationUrls.at(-1)!
    expect(stepUp.searchParams.get("scope")?.split(" ").sort()).toEqual(["mcp:read", "mcp:write"])
    expect(
      provider.transcript.some((t) => t.status === 403 && t.method === "POST" && t.url === `${bed.url}/mcp`),
    ).toBe(true)
    const transport = client.transport as unknown as { finishAuth: (code: string) => Promise<void> }
    await transport.finishAuth(provider.takeAuthorizationCode())

    // The retry carries the larger grant and reaches the tool.
    const result = await client.callTool({ name: "whoami", arguments: {} })
    expect(result.structuredContent).toMatchObject({ user: "ada" })
    expect(String((result.structuredContent as { scopes: string }).scopes).split(" ")).toContain("mcp:write")

    // A call no scope can fix: a JSON-RPC error, never reaching the server.
    const before = bed.mcp.requests.length
    await expect(client.callTool({ name: "drop_tables", arguments: {} })).rejects.toThrow(
      /-32001.*policy denies/,
    )
    expect(bed.mcp.requests.length).toBe(before)
    await client.close()

    const audit = bed.gateway
      .output()
      .split("\n")
      .filter((l) => l.includes('"type":"mcp_audit"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const calls = audit.filter((l) => l["method"] === "tools/call")
    expect(calls.map((l) => [l["target"], l["decision"], l["rule"], l["status"]])).toEqual([
      ["whoami", "step_up", "whoami-writers", 403],
      ["whoami", "allow", "whoami-writers", 200],
      ["drop_tables", "deny", "default", 200],
    ])
    for (const line of audit) {
      expect(line["subject"]).toBe("ada")
      expect(line["client_id"]).toBe(provider.clientInformation()?.client_id)
    }
    expect(audit.some((l) => l["method"] === "initialize" && l["decision"] === "allow")).toBe(true)
    expect(bed.gateway.output()).not.toContain(provider.tokens()!.access_token)

    // SIGHUP: a bad file is logged with its line and the policy in force stays; a good one applies.
    const whoami = () =>
      McpClient.postJsonRpc(`${bed.url}/mcp`, provider.tokens()!.access_token, {
        id: 9,
        method: "tools/call",
        params: { name: "whoami" },
      }).then(async (r) => `${r.status} ${await r.text()}`)
    const denied = /"code":-32001/
    expect(await whoami()).not.toMatch(denied)
    writeFileSync(
      join(bed.dir, "policy.yaml"),
      "default: deny\nrules:\n  - effect: allow\n    tool: [whoami]\n",
    )
    bed.gateway.child.kill("SIGHUP")
    await Polling.waitFor(
      "the failed reload's log line",
      async () => (bed.gateway.output().includes("policy reload failed") ? true : undefined),
      { timeoutMs: 10_000 },
    )
    expect(bed.gateway.output()).toMatch(/policy\.yaml:4: rules\[0\]\.tool/)
    expect(await whoami()).not.toMatch(denied)
    writeFileSync(
      join(bed.dir, "policy.yaml"),
      "default: allow\nrules:\n  - effect: deny\n    tools: [whoami]\n",
    )
    bed.gateway.child.kill("SIGHUP")
    await Polling.waitFor(
      "the reload's log line",
      async () => (bed.gateway.output().includes('"policy reloaded"') ? true : undefined),
      { timeoutMs: 10_000 },
    )
    expect(await whoami()).toMatch(denied)
    expect(bed.gateway.child.exitCode).toBeNull()
  }, 90_000)
})

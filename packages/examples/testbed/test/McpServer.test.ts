/**
 * The test MCP server, called by the real MCP SDK client without auth: `whoami` echoes the identity
 * headers and every request is recorded.
 *
 * @since 0.1.0
 */
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { connectWithOAuth } from "../src/McpClient.ts"
import { type RunningMcpServer, startMcpServer } from "../src/McpServer.ts"

describe("McpServer", () => {
  let server: RunningMcpServer

  beforeAll(async () => {
    server = await startMcpServer()
  })
  afterAll(async () => {
    await server?.close()
  })

  it("whoami - returns the x-auth-request-* headers the call carried", async () => {
    const headers = {
      "x-auth-request-user": "ada",
      "x-auth-request-email": "ada@example.test",
      "x-auth-request-scopes": "mcp:read mcp:write",
      "x-auth-request-client-id": "client-123",
    }
    const { client, provider } = await connectWithOAuth(server.url, { requestInit: { headers } })
    try {
      const tools = await client.listTools()
      assert.deepStrictEqual(
        tools.tools.map((t) => t.name),
        ["whoami"],
      )
      const result = await client.callTool({ name: "whoami" })
      assert.deepStrictEqual(result.structuredContent, {
        user: "ada",
        email: "ada@example.test",
        scopes: "mcp:read mcp:write",
        client_id: "client-123",
      })
      // No 401, so no OAuth: no registration, no browser, no token.
      assert.lengthOf(provider.registrationRequests(), 0)
      assert.lengthOf(provider.authorizationUrls, 0)
      assert.isUndefined(provider.tokens())
      // The SDK also tries a GET for the standalone SSE stream; stateless mode answers 405, which it accepts.
      assert.deepStrictEqual(
        [...new Set(provider.transcript.map((e) => `${e.via} ${e.method} ${e.status}`))].sort(),
        ["sdk GET 405", "sdk POST 200", "sdk POST 202"],
      )
    } finally {
      await client.close()
    }
    const posts = server.requests.filter((r) => r.method === "POST")
    assert.isAtLeast(posts.length, 3, "initialize, notifications/initialized, tools/list, tools/call")
    for (const request of posts) assert.strictEqual(request.headers["x-auth-request-user"], "ada")
  })

  it("whoami - reports null for headers that were not sent, and nothing else leaks in", async () => {
    const before = server.requests.length
    const { client } = await connectWithOAuth(server.url)
    try {
      const result = await client.callTool({ name: "whoami" })
      assert.deepStrictEqual(result.structuredContent, {
        user: null,
        email: null,
        scopes: null,
        client_id: null,
      })
    } finally {
      await client.close()
    }
    const mine = server.requests.slice(before)
    assert.isTrue(mine.every((r) => r.headers["authorization"] === undefined))
  })

  it("http - only POST on the MCP path is served", async () => {
    assert.strictEqual((await fetch(server.url)).status, 405)
    assert.strictEqual((await fetch(new URL("/other", server.url), { method: "POST" })).status, 404)
  })
})

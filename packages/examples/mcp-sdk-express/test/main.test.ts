/**
 * The example end to end: the real MCP SDK client signs in through the in-process proxy and the
 * tool sees `req.auth` as `requireBearerAuth` + `McpSdkVerifier` produced it.
 */
import { describe, expect, it } from "vitest"
import { main } from "../src/main.ts"

describe("mcp-sdk-express", () => {
  it("main --once - the tool sees the subject, the client and the resolved scopes", async () => {
    const lines: Array<string> = []
    const me = await main(["--once"], (line) => lines.push(line))
    expect(me.subject).toBe("ada")
    expect(me.scopes).toBe("mcp:read")
    expect(me.resource).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/)
    expect(lines).toContain("scopes: mcp:read")
  }, 30_000)
})

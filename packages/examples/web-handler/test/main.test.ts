/**
 * The Web `fetch` module end to end (served on 127.0.0.1, the real MCP SDK client signing in
 * through it against oidc-provider), and a check that its proxy code stays portable.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { main } from "../src/main.ts"

const source = readFileSync(new URL("../src/worker.ts", import.meta.url), "utf8")

describe("web-handler", () => {
  it("main --once - the MCP SDK client signs in through the fetch module and the MCP server sees the caller", async () => {
    const lines: Array<string> = []
    const me = await main(["--once"], (line) => lines.push(line))
    expect(me.user).toBe("ada")
    expect(me.scopes).toBe("mcp:read")
    expect(me.client_id).not.toBeNull()
    expect(lines).toContain("scopes: mcp:read")
  }, 30_000)

  it("worker.ts - imports only Web-portable packages and uses no Node global", () => {
    const imports = [...source.matchAll(/^import .* from "([^"]+)"/gm)].map((m) => m[1])
    expect(imports.length).toBeGreaterThan(0)
    const allowed = new Set([
      "@oidc-proxy/core",
      "@oidc-proxy/http",
      "@oidc-proxy/upstream-http",
      "@oidc-proxy/store-memory",
      "effect",
    ])
    expect(imports.filter((name) => !allowed.has(name!))).toEqual([])
    // Code only (comments may name these): no Node globals.
    const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "")
    expect(code).not.toMatch(/\b(process|Buffer|require|__dirname)\b|node:/)
    expect(code).toMatch(/export default \{\s*fetch\(request: Request, env: Env\)/)
  })
})

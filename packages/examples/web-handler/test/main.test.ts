/**
 * The Web `fetch` module end to end (served on 127.0.0.1, the real MCP SDK client signing in
 * through it against oidc-provider), and a check that its proxy code stays portable.
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { AccessToken } from "@oidc-proxy/core"
import { describe, expect, it } from "vitest"
import { main } from "../src/main.ts"
import { forward } from "../src/worker.ts"

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

  it("forward - the gateway's identity rule: folded identity names dropped, values encoded, email only when verified", async () => {
    // A target on 127.0.0.1 answering with the headers it received.
    const server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify(req.headers))
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`
    const token = (claims: Record<string, unknown>): AccessToken.AccessToken => ({
      token: "proxy.jwt.value",
      client_id: "client-1",
      subject: "ünï\r\ncødé",
      scopes: ["mcp:read"],
      expires_at: 2_000_000_000,
      claims: { iss: "https://idp.test", sub: "ünï\r\ncødé", ...claims },
    })
    const seen = async (claims: Record<string, unknown>, trustUnverifiedEmail = false) => {
      const request = new Request("http://proxy.test/mcp", {
        headers: {
          authorization: "Bearer secret",
          X_Auth_Request_User: "mallory",
          "X.Auth.Request.Email": "ceo@victim.example",
          "x-auth-request-groups": "admins",
          X_Forwarded_User: "mallory",
          "X-Forwarded-Access-Token": "forged",
          "x-trace": "kept",
        },
      })
      const res = await forward(url, { trustUnverifiedEmail })(request, token(claims))
      return (await res.json()) as Record<string, string>
    }
    try {
      const unverified = await seen({ email: "ceo@victim.example", email_verified: false })
      expect(unverified).toMatchObject({
        "x-auth-request-user": "%C3%BCn%C3%AF%0D%0Ac%C3%B8d%C3%A9",
        "x-auth-request-scopes": "mcp:read",
        "x-auth-request-client-id": "client-1",
        "x-trace": "kept",
      })
      for (const name of ["authorization", "x-auth-request-email", "x-auth-request-groups"])
        expect(unverified[name], name).toBeUndefined()
      expect(JSON.stringify(unverified)).not.toMatch(/mallory|victim|admins|forged|secret/)
      expect((await seen({ email: "ada@example.com", email_verified: true }))["x-auth-request-email"]).toBe(
        "ada@example.com",
      )
      expect((await seen({ email: "bob@example.com" }, true))["x-auth-request-email"]).toBe("bob@example.com")
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

/**
 * The `oidc-proxy` binary as a child process, configured only through the environment, in front of
 * a real MCP server, against a real OIDC provider, driven by the real MCP SDK client: the target
 * sees the caller's identity headers, and forged `X-Auth-Request-*` headers never reach it.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const bin = join(import.meta.dirname, "..", "..", "..", "adapters", "node", "bin", "oidc-proxy.mjs")

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0))
    })
  })

const waitForReady = async (url: string, child: ChildProcess, stderr: () => string) => {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}: ${stderr()}`)
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`gateway not ready: ${stderr()}`)
}

describe("oidc-proxy binary", () => {
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let child: ChildProcess
  let url = ""
  let err = ""
  let out = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-bin-"))

  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
    mcp = await McpServer.startMcpServer()
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    const client = idp.clients[0]!
    child = spawn(process.execPath, [bin], {
      env: {
        PATH: process.env.PATH ?? "",
        OIDC_PROXY_BASE_URL: url,
        OIDC_PROXY_TARGET: mcp.url,
        OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
        OIDC_PROXY_UPSTREAM_CLIENT_ID: client.client_id,
        OIDC_PROXY_UPSTREAM_CLIENT_SECRET: client.client_secret,
        OIDC_PROXY_UPSTREAM_SCOPES: "openid email",
        OIDC_PROXY_UPSTREAM_AUDIENCE: idp.audience,
        OIDC_PROXY_UPSTREAM_EXTRA_PARAMS: "prompt=consent",
        OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
        OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
        OIDC_PROXY_SECRET: "binary-test-secret-0123456789-abcdefghij",
      },
      stdio: ["ignore", "pipe", "pipe"],
    })
    child.stdout?.on("data", (d) => {
      out += String(d)
    })
    child.stderr?.on("data", (d) => {
      err += String(d)
    })
    await waitForReady(url, child, () => err)
  }, 30_000)

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      await exited
    }
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
    const logs = out + err
    expect(logs).not.toContain(tokens.access_token)
    expect(logs).not.toContain(tokens.refresh_token!)
    expect(logs).not.toContain(idp.clients[0]!.client_secret)
  }, 60_000)
})

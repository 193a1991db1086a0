/**
 * `npm run demo -- --once` — the README's first command — runs the whole quickstart and exits 0.
 */
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..", "..", "..", "..")

describe("quickstart demo", () => {
  it("npm run demo -- --once prints the transcript and exits 0", () => {
    const run = spawnSync("npm", ["run", "--silent", "demo", "--", "--once"], {
      cwd: root,
      env: { ...process.env, OIDC_PROXY_DEMO_PORT: "0" },
      encoding: "utf8",
      timeout: 120_000,
    })
    const out = run.stdout
    expect(run.status, run.stderr).toBe(0)
    expect(out).toContain("registration (RFC 7591 DCR)")
    expect(out).toContain("authorize → the proxy's consent page")
    expect(out).toContain("upstream callback → client code")
    expect(out).toMatch(/whoami \(identity headers the MCP server received\): \{"user":"ada"/)
    expect(out).toContain("refresh token rotated: true")
    expect(out).toContain("revoked family's access token: 401")
    expect(out).toContain('whoami: user=ada scopes="offline_access openid"')
    // Nothing secret is printed: no full JWT.
    expect(out).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
  }, 150_000)
})

/**
 * Runs the example as a user would — `node src/main.ts --once` in a child process — and checks it
 * exits 0 having printed exactly the scopes recorded for the same-JWT upstream session.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

const run = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [main, ...args], { timeout: 25_000 }, (error, stdout, stderr) => {
      resolve({
        code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
        stdout,
        stderr,
      })
    })
  })

describe("same-jwt-idp", () => {
  it("node src/main.ts --once - signs in through the proxy and prints exactly `offline_access openid`", async () => {
    const { code, stdout, stderr } = await run(["--once"])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    const lines = stdout.trim().split("\n")
    expect(lines).toContain("MCP client signed in as: ada")
    expect(lines).toContain("scopes: offline_access openid")
  }, 30_000)
})

/**
 * After a full sign-in through the real MCP SDK client and oidc-provider, the SQLite file holds no
 * token in clear: no JWT at all (upstream access and id tokens are JWTs), not the proxy's refresh
 * token, not the authorization code the client received.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { SqliteStore } from "@oidc-proxy/store-sqlite"
import { HeadlessBrowser, McpClient } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Harness from "../src/Harness.ts"

describe("tokens at rest after a full flow (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-at-rest-"))
  let h: Harness.Harness
  beforeAll(async () => {
    h = await Harness.start({ store: SqliteStore.layer({ filename: join(dir, "proxy.db") }) })
  }, 30_000)
  afterAll(async () => {
    await h?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("the database files contain no JWT, refresh token or code in clear", async () => {
    const interact = HeadlessBrowser.firstOf(
      HeadlessBrowser.pressButton("decision", "approve"),
      HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
    )
    const { client, provider } = await McpClient.connectWithOAuth(h.resourceUrl, {
      interact,
      scope: "openid offline_access",
    })
    await client.callTool({ name: "whoami", arguments: {} })
    const tokens = provider.tokens()!
    const code = provider.lastCallback?.searchParams.get("code")
    expect(code).toBeTruthy()
    expect(tokens.refresh_token).toBeTruthy()

    const files = readdirSync(dir).filter((f) => f.startsWith("proxy.db"))
    expect(files).toContain("proxy.db")
    const raw = files.map((f) => readFileSync(join(dir, f)).toString("latin1")).join("\n")
    // The scan works: the registered client's id is stored in clear (it is public).
    expect(raw).toContain(provider.clientInformation()!.client_id)
    expect(raw).not.toContain("eyJ")
    expect(raw).not.toContain(tokens.refresh_token!)
    expect(raw).not.toContain(code!)
    await client.close()
  }, 60_000)
})

/**
 * After a full sign-in through the real MCP SDK client and oidc-provider, neither the SQLite file
 * nor the Redis keys and values hold a token in clear: no JWT at all (upstream access and id
 * tokens are JWTs), not the proxy's refresh token, not the authorization code the client received.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { RedisStore } from "@oidc-proxy/store-redis"
import { RedisServer } from "@oidc-proxy/store-redis/testing"
import { SqliteStore } from "@oidc-proxy/store-sqlite"
import { HeadlessBrowser, McpClient } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Harness from "../src/Harness.ts"

/**
 * A JWT in clear: header and payload are base64url JSON objects (`eyJ…`), dot-separated. Matching
 * the shape, not a bare "eyJ", keeps random base64url ciphertext from tripping the check.
 */
const jwtShape = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\./

const interact = HeadlessBrowser.firstOf(
  HeadlessBrowser.pressButton("decision", "approve"),
  HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
)

/** Signs in and calls a tool; returns what must not be found in the store. */
const signIn = async (h: Harness.Harness) => {
  const { client, provider } = await McpClient.connectWithOAuth(h.resourceUrl, {
    interact,
    scope: "openid offline_access",
  })
  await client.callTool({ name: "whoami", arguments: {} })
  await client.close()
  const code = provider.lastCallback?.searchParams.get("code")
  const refresh = provider.tokens()?.refresh_token
  expect(code).toBeTruthy()
  expect(refresh).toBeTruthy()
  return { code: code!, refresh: refresh!, clientId: provider.clientInformation()!.client_id }
}

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
    const { code, refresh, clientId } = await signIn(h)
    const files = readdirSync(dir).filter((f) => f.startsWith("proxy.db"))
    expect(files).toContain("proxy.db")
    const raw = files.map((f) => readFileSync(join(dir, f)).toString("latin1")).join("\n")
    // The scan works: the registered client's id is stored in clear (it is public).
    expect(raw).toContain(clientId)
    expect(raw).not.toMatch(jwtShape)
    expect(raw).not.toContain(refresh)
    expect(raw).not.toContain(code)
  }, 60_000)
})

RedisServer.describeWithRedis("tokens at rest after a full flow (Redis)", (server) => {
  let h: Harness.Harness
  beforeAll(async () => {
    h = await Harness.start({ store: RedisStore.layer({ url: server().url, prefix: "at-rest:" }) })
  }, 30_000)
  afterAll(() => h?.close())

  it("no Redis key or value contains a JWT, the refresh token or the code in clear", async () => {
    const { code, refresh, clientId } = await signIn(h)
    // redis-cli (Debian's redis-tools, installed with redis-server) reads the raw keys and values.
    const cli = (...args: Array<string>) =>
      execFileSync("redis-cli", ["-u", server().url, "--raw", ...args], { encoding: "utf8" })
    const keys = cli("KEYS", "at-rest:*")
      .split("\n")
      .filter((k) => k !== "")
    expect(keys.length).toBeGreaterThan(3)
    const raw = [...keys, cli("MGET", ...keys)].join("\n")
    expect(raw).toContain(clientId)
    expect(raw).not.toMatch(jwtShape)
    expect(raw).not.toContain(refresh)
    expect(raw).not.toContain(code)
  }, 60_000)
})

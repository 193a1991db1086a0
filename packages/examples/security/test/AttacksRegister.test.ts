/**
 * Dynamic client registration with hostile metadata, over the real fetch handler: each case is
 * refused with the RFC 7591 error code and stores nothing; prototype-pollution keys are inert.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertLogsClean,
  expectOAuthError,
  issuer,
  makeProxy,
  type ProxyUnderTest,
  withoutStateChange,
} from "./support.ts"

let p: ProxyUnderTest
beforeAll(async () => {
  p = await makeProxy({ config: { scopes_supported: ["openid", "mcp:read"] } })
})
afterAll(async () => {
  assertLogsClean(p)
  await p.dispose()
})

const registerRaw = (body: string, headers: Record<string, string> = {}) =>
  p.send(
    new Request(`${issuer}/register`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    }),
  )

const refused = async (metadata: unknown, error: string) => {
  const res = await withoutStateChange(p, () => registerRaw(JSON.stringify(metadata)))
  expectOAuthError(res, 400, error)
  expect(String(res.json?.["error_description"]).length).toBeLessThan(400)
}

const ok = ["https://app.example/cb"]

describe("DCR with hostile metadata", () => {
  it("huge arrays - invalid_redirect_uri / invalid_client_metadata, nothing stored", async () => {
    await refused(
      { redirect_uris: Array.from({ length: 1000 }, (_, i) => `https://a.example/${i}`) },
      "invalid_redirect_uri",
    )
    await refused(
      { redirect_uris: ok, grant_types: Array(1000).fill("authorization_code") },
      "invalid_client_metadata",
    )
    await refused({ redirect_uris: ok, response_types: Array(100).fill("code") }, "invalid_client_metadata")
    await refused({ redirect_uris: [`https://a.example/${"x".repeat(3000)}`] }, "invalid_redirect_uri")
  })

  it("non-URL and dangerous URIs - invalid_redirect_uri / invalid_client_metadata, nothing stored", async () => {
    for (const uri of [
      "not a url",
      "/relative/cb",
      "javascript:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "http://app.example/cb",
      "https://app.example/cb#frag",
      "https://user:pw@app.example/cb",
      "https://app.example/a/../cb",
      "HTTPS://APP.EXAMPLE/cb",
      "com.example.app:/cb",
      "",
    ]) {
      await refused({ redirect_uris: [uri] }, "invalid_redirect_uri")
    }
    await refused({ redirect_uris: [42] }, "invalid_redirect_uri")
    await refused({ redirect_uris: "https://app.example/cb" }, "invalid_redirect_uri")
    await refused({ redirect_uris: ok, client_uri: "javascript:alert(1)" }, "invalid_client_metadata")
    await refused({ redirect_uris: ok, logo_uri: "http://tracker.example/x.png" }, "invalid_client_metadata")
  })

  it("scopes outside the allowed set - invalid_client_metadata, nothing stored", async () => {
    await refused({ redirect_uris: ok, scope: "openid admin" }, "invalid_client_metadata")
    await refused({ redirect_uris: ok, scope: "mcp:read mcp:write" }, "invalid_client_metadata")
    await refused({ redirect_uris: ok, scope: 42 }, "invalid_client_metadata")
  })

  it("prototype-pollution keys - refused when they hide a required field, inert otherwise", async () => {
    const before = ({} as Record<string, unknown>)["polluted"]
    const hidden = await withoutStateChange(p, () =>
      registerRaw(`{"__proto__": {"redirect_uris": ["https://evil.example/cb"]}}`),
    )
    expectOAuthError(hidden, 400, "invalid_redirect_uri")
    const nested = await withoutStateChange(p, () =>
      registerRaw(`{"constructor": {"prototype": {"redirect_uris": ["https://evil.example/cb"]}}}`),
    )
    expectOAuthError(nested, 400, "invalid_redirect_uri")
    // Accepted, but the polluting members change nothing: the default auth method stands.
    const inert = await registerRaw(
      `{"redirect_uris": ["https://app.example/cb"], "__proto__": {"token_endpoint_auth_method": "none", "polluted": 1}, "constructor": {"prototype": {"polluted": 2}}}`,
    )
    expect(inert.status, inert.text).toBe(201)
    expect(inert.json?.["token_endpoint_auth_method"]).toBe("client_secret_basic")
    expect(typeof inert.json?.["client_secret"]).toBe("string")
    expect(Object.keys(inert.json ?? {})).not.toContain("__proto__")
    expect(Object.keys(inert.json ?? {})).not.toContain("constructor")
    expect(({} as Record<string, unknown>)["polluted"]).toBe(before)
    expect(Object.prototype).not.toHaveProperty("polluted")
  })

  it("wrong types, non-objects and malformed JSON - invalid_client_metadata, nothing stored", async () => {
    await refused(null, "invalid_client_metadata")
    await refused("https://app.example/cb", "invalid_client_metadata")
    await refused([{ redirect_uris: ok }], "invalid_client_metadata")
    await refused({ redirect_uris: ok, client_name: { toString: "x" } }, "invalid_client_metadata")
    await refused(
      { redirect_uris: ok, token_endpoint_auth_method: "private_key_jwt" },
      "invalid_client_metadata",
    )
    await refused({ redirect_uris: ok, application_type: "service" }, "invalid_client_metadata")
    await refused({ redirect_uris: ok, grant_types: ["client_credentials"] }, "invalid_client_metadata")
    const malformed = await withoutStateChange(p, () => registerRaw(`{"redirect_uris": [`))
    expectOAuthError(malformed, 400, "invalid_client_metadata")
    const deep = await withoutStateChange(p, () => registerRaw(`${"[".repeat(5000)}${"]".repeat(5000)}`))
    expectOAuthError(deep, 400, "invalid_client_metadata")
  })
})

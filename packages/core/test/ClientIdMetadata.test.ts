import { assert, describe, it } from "@effect/vitest"
import * as ClientIdMetadata from "../src/ClientIdMetadata.ts"

const url = "https://client.example/oauth/client.json"
const policy = { now: 1000, validScopes: [], allowRedirectUri: () => true }
const doc = (overrides: Record<string, unknown> = {}) => ({
  client_id: url,
  redirect_uris: ["https://client.example/cb"],
  ...overrides,
})

describe("ClientIdMetadata", () => {
  it("urlProblem - https with a path; no dot segments, fragment, query, userinfo; canonical", () => {
    assert.isUndefined(ClientIdMetadata.urlProblem(url))
    assert.isUndefined(ClientIdMetadata.urlProblem("https://client.example:8443/c"))
    const bad: ReadonlyArray<[string, string]> = [
      ["http://client.example/c", "https"],
      ["ftp://client.example/c", "https"],
      ["https://client.example", "path"],
      ["https://client.example/", "path"],
      ["https://client.example/a/../c", "dot segments"],
      ["https://client.example/a/./c", "dot segments"],
      ["https://client.example/c#x", "fragment"],
      ["https://client.example/c?x", "query"],
      ["https://u:p@client.example/c", "userinfo"],
      ["https://Client.Example/c", "canonical"],
      ["not a url", "absolute"],
      [`https://client.example/${"x".repeat(1100)}`, "too long"],
      ["http://127.0.0.1:8080/c", "https"],
    ]
    for (const [u, why] of bad) assert.include(ClientIdMetadata.urlProblem(u) ?? "", why, u)
    assert.isUndefined(ClientIdMetadata.urlProblem("http://127.0.0.1:8080/c", { allowHttpLoopback: true }))
    assert.isUndefined(ClientIdMetadata.urlProblem("http://localhost:8080/c", { allowHttpLoopback: true }))
    assert.include(
      ClientIdMetadata.urlProblem("http://10.0.0.1/c", { allowHttpLoopback: true }) ?? "",
      "https",
      "the development option covers loopback only",
    )
  })

  it("freshness - max-age within bounds, no-store at the floor, default without a lifetime", () => {
    const bounds = { min_seconds: 60, max_seconds: 86_400, default_seconds: 3600 }
    assert.strictEqual(ClientIdMetadata.freshness(undefined, bounds), 3600)
    assert.strictEqual(ClientIdMetadata.freshness("public", bounds), 3600)
    assert.strictEqual(ClientIdMetadata.freshness("max-age=600", bounds), 600)
    assert.strictEqual(ClientIdMetadata.freshness("public, s-maxage=900, max-age=600", bounds), 900)
    assert.strictEqual(ClientIdMetadata.freshness("max-age=5", bounds), 60)
    assert.strictEqual(ClientIdMetadata.freshness("max-age=99999999", bounds), 86_400)
    assert.strictEqual(ClientIdMetadata.freshness("no-store", bounds), 60)
    assert.strictEqual(ClientIdMetadata.freshness("max-age=600, no-cache", bounds), 60)
    assert.strictEqual(ClientIdMetadata.freshness("max-age=abc", bounds), 3600)
  })

  it("validate - a valid document becomes a cimd client record with the URL as client_id", () => {
    const client = ClientIdMetadata.validate(
      url,
      doc({ client_name: "X", logo_uri: "https://client.example/l.png" }),
      policy,
    )
    assert.notProperty(client, "_tag")
    if ("_tag" in client) return
    assert.strictEqual(client.client_id, url)
    assert.strictEqual(client.source, "cimd")
    assert.strictEqual(client.token_endpoint_auth_method, "none")
    assert.strictEqual(client.client_id_issued_at, 1000)
    assert.deepStrictEqual(client.grant_types, ["authorization_code"])
    assert.strictEqual(ClientIdMetadata.verifiedHost(client), "client.example")
  })

  it("validate - each rule refuses, naming the rule", () => {
    const cases: ReadonlyArray<[unknown, string]> = [
      [null, "JSON object"],
      [doc({ client_id: `${url}?` }), "equal its URL"],
      [doc({ client_id: undefined }), "equal its URL"],
      [doc({ redirect_uris: undefined }), "redirect_uris"],
      [doc({ redirect_uris: ["data:text/html,x"] }), "redirect_uris"],
      [doc({ token_endpoint_auth_method: "client_secret_basic" }), "shared-secret"],
      [doc({ token_endpoint_auth_method: "client_secret_post" }), "shared-secret"],
      [doc({ token_endpoint_auth_method: "tls_client_auth" }), "none or private_key_jwt"],
      [doc({ client_secret: "x" }), "client_secret"],
      [doc({ client_secret_expires_at: 0 }), "client_secret_expires_at"],
      [doc({ token_endpoint_auth_method: "private_key_jwt" }), "jwks"],
      [doc({ jwks_uri: "http://client.example/jwks" }), "https"],
      [doc({ jwks: { keys: [] }, jwks_uri: "https://client.example/jwks" }), "either"],
    ]
    for (const [body, why] of cases) {
      const result = ClientIdMetadata.validate(url, body, policy)
      assert.property(result, "_tag", why)
      if (!("_tag" in result)) continue
      assert.include(result.description, why)
    }
  })
})

import { join } from "node:path"
import { HeadlessBrowser, type LocalIdp, LocalIdpGateway, McpClient, Polling } from "@oidc-proxy/testbed"
import { decodeJwt } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

describe("downstream tokens (RFC 8693) through the oidc-proxy binary", () => {
  let bed: LocalIdpGateway.LocalIdpGateway
  let exchange: LocalIdp.TokenExchangeControl

  beforeAll(async () => {
    bed = await LocalIdpGateway.start({
      idp: { tokenExchange: { ttl: 300 } },
      dirPrefix: "oidc-proxy-downstream-",
      env: ({ dir }) => ({
        OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
        OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
        OIDC_PROXY_SECRET: "downstream-test-secret-0123456789-abcdefghij",
        OIDC_PROXY_DOWNSTREAM_TOKEN: "exchange",
        OIDC_PROXY_EXCHANGE_AUDIENCE: "urn:testbed:downstream",
        OIDC_PROXY_EXCHANGE_SCOPE: "orders:read",
      }),
    })
    exchange = bed.idp.tokenExchange!
  }, 30_000)

  afterAll(() => bed?.close())

  const signIn = () =>
    McpClient.connectWithOAuth(`${bed.url}/mcp`, {
      interact: HeadlessBrowser.approveAs("ada"),
      scope: "openid email offline_access mcp:read",
      requestInit: { headers: { "X-Forwarded-Access-Token": "forged" } },
    })

  /** What the target last received as the downstream token, on a POST (the SDK's GET stream may come late). */
  const lastForwarded = () =>
    bed.mcp.requests.filter((r) => r.method === "POST").at(-1)?.headers["x-forwarded-access-token"]

  /** A JSON-RPC POST with a proxy token, outside the SDK (its answer is not the point). */
  const post = (proxyToken: string) => McpClient.postJsonRpc(`${bed.url}/mcp`, proxyToken, { method: "ping" })

  it("the target gets the exchanged token, one exchange per session; renewed near expiry; failures are answered, not forwarded", async () => {
    // Session A: many calls, one exchange.
    const a = await signIn()
    for (let i = 0; i < 4; i++) {
      const result = await a.client.callTool({ name: "whoami", arguments: {} })
      expect(result.structuredContent).toMatchObject({ user: "ada" })
    }
    expect(exchange.requests).toBe(1)
    const exchanged = exchange.issued[0]!
    const forwarded = bed.mcp.requests.filter((r) => r.headers["x-auth-request-user"] === "ada")
    expect(forwarded.length).toBeGreaterThanOrEqual(5)
    for (const r of forwarded) {
      expect(r.headers["x-forwarded-access-token"]).toBe(exchanged)
      expect(r.headers.authorization).toBeUndefined()
    }
    // Issued for the downstream audience, on behalf of ada, acted by the proxy's client: not the
    // upstream token (whose audience is the upstream API), not the proxy's own token.
    const claims = decodeJwt(exchanged)
    expect(claims).toMatchObject({
      aud: "urn:testbed:downstream",
      sub: "ada",
      scope: "orders:read",
      act: { sub: bed.idp.clients[0]!.client_id },
    })
    expect(claims.aud).not.toBe(bed.idp.audience)
    expect(exchanged).not.toBe(a.provider.tokens()!.access_token)
    await a.client.close()

    // Session B with short-lived exchanged tokens (1 s: reused for 0.75 s): its own exchange, redone after expiry.
    exchange.ttl = 1
    const b = await signIn()
    await b.client.callTool({ name: "whoami", arguments: {} })
    const before = exchange.requests
    expect(before).toBeGreaterThanOrEqual(2)
    expect(lastForwarded()).toBe(exchange.issued.at(-1))
    expect(lastForwarded()).not.toBe(exchanged)
    const previous = lastForwarded()
    await Polling.sleep(1_100)
    await b.client.callTool({ name: "whoami", arguments: {} })
    expect(exchange.requests).toBeGreaterThan(before)
    expect(lastForwarded()).toBe(exchange.issued.at(-1))
    expect(lastForwarded()).not.toBe(previous)
    const proxyToken = b.provider.tokens()!.access_token
    await b.client.close()
    await Polling.sleep(1_100)

    // The IdP is down: 503 with Retry-After, nothing reaches the target.
    const seen = bed.mcp.requests.length
    exchange.mode = "outage"
    const outage = await post(proxyToken)
    expect(outage.status).toBe(503)
    expect(outage.headers.get("retry-after")).toBe("5")
    expect(await outage.json()).toMatchObject({ error: "temporarily_unavailable" })
    // The IdP refuses the subject: 401 invalid_token (the client signs in again), nothing forwarded.
    exchange.mode = "refuse"
    const refused = await post(proxyToken)
    expect(refused.status).toBe(401)
    expect(refused.headers.get("www-authenticate")).toContain('error="invalid_token"')
    expect(await refused.json()).toMatchObject({ error: "invalid_token" })
    expect(bed.mcp.requests.length).toBe(seen)

    // Back up: five concurrent requests of the session share one exchange.
    exchange.mode = "ok"
    exchange.ttl = 300
    const count = exchange.requests
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => post(proxyToken)))
    await Promise.all(answers.map((r) => r.text()))
    expect(exchange.requests).toBe(count + 1)
    const last = exchange.issued.at(-1)!
    expect(bed.mcp.requests.slice(seen).map((r) => r.headers["x-forwarded-access-token"])).toEqual([
      last,
      last,
      last,
      last,
      last,
    ])

    // No token of any kind in the gateway's output.
    const logs = bed.gateway.output()
    for (const token of [...exchange.issued, proxyToken, a.provider.tokens()!.access_token])
      expect(logs).not.toContain(token)
    expect(logs).toContain("downstream token not obtained")
  }, 90_000)
})

describe("downstream tokens (Entra on-behalf-of form) through the oidc-proxy binary", () => {
  let bed: LocalIdpGateway.LocalIdpGateway

  beforeAll(async () => {
    bed = await LocalIdpGateway.start({
      idp: { tokenExchange: { ttl: 300, audiences: ["api://downstream"] } },
      dirPrefix: "oidc-proxy-obo-",
      env: ({ dir }) => ({
        OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
        OIDC_PROXY_SECRET: "downstream-obo-secret-0123456789-abcdefghij",
        OIDC_PROXY_DOWNSTREAM_TOKEN: "entra-obo",
        OIDC_PROXY_DOWNSTREAM_TOKEN_HEADER: "authorization",
        OIDC_PROXY_EXCHANGE_SCOPE: "api://downstream/.default",
      }),
    })
  }, 30_000)

  afterAll(() => bed?.close())

  it("the target's Authorization carries the on-behalf-of token, obtained once for the session", async () => {
    const { client, provider } = await McpClient.connectWithOAuth(`${bed.url}/mcp`, {
      interact: HeadlessBrowser.approveAs("ada"),
      scope: "openid email offline_access mcp:read",
    })
    await client.callTool({ name: "whoami", arguments: {} })
    await client.callTool({ name: "whoami", arguments: {} })
    await client.close()
    const exchange = bed.idp.tokenExchange!
    expect(exchange.requests).toBe(1)
    const token = exchange.issued[0]!
    expect(decodeJwt(token)).toMatchObject({ aud: "api://downstream", sub: "ada" })
    const posts = bed.mcp.requests.filter((r) => r.method === "POST")
    expect(posts.length).toBeGreaterThanOrEqual(3)
    for (const r of posts) expect(r.headers.authorization).toBe(`Bearer ${token}`)
    expect(token).not.toBe(provider.tokens()!.access_token)
    expect(bed.gateway.output()).not.toContain(token)
  }, 60_000)
})

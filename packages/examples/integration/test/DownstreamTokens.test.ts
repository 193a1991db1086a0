/**
 * Downstream tokens end to end: the `oidc-proxy` binary with `OIDC_PROXY_DOWNSTREAM_TOKEN=exchange`
 * in front of a real MCP server, against oidc-provider with a real RFC 8693 grant (the testbed's
 * LocalIdp), driven by the MCP SDK client. The target receives the exchanged token — not the
 * upstream one, not the proxy's —, one exchange serves a session's many calls, it is done again
 * once the token is near expiry, concurrent requests share one, and an IdP outage or refusal is
 * answered without forwarding.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  GatewayProcess,
  HeadlessBrowser,
  LocalIdp,
  McpClient,
  McpServer,
  Polling,
  Ports,
} from "@oidc-proxy/testbed"
import { decodeJwt } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

describe("downstream tokens (RFC 8693) through the oidc-proxy binary", () => {
  let idp: LocalIdp.LocalIdp
  let exchange: LocalIdp.TokenExchangeControl
  let mcp: McpServer.RunningMcpServer
  let gateway: GatewayProcess.GatewayProcess
  let url = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-downstream-"))

  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
      tokenExchange: { ttl: 300 },
    })
    exchange = idp.tokenExchange!
    mcp = await McpServer.startMcpServer()
    url = `http://127.0.0.1:${await Ports.freePort()}`
    gateway = await GatewayProcess.spawnGateway(url, {
      ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
      OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
      OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
      OIDC_PROXY_SECRET: "downstream-test-secret-0123456789-abcdefghij",
      OIDC_PROXY_DOWNSTREAM_TOKEN: "exchange",
      OIDC_PROXY_EXCHANGE_AUDIENCE: "urn:testbed:downstream",
      OIDC_PROXY_EXCHANGE_SCOPE: "orders:read",
    })
  }, 30_000)

  afterAll(async () => {
    await gateway?.stop()
    await mcp?.close()
    await idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const signIn = () =>
    McpClient.connectWithOAuth(`${url}/mcp`, {
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
      scope: "openid email offline_access mcp:read",
      requestInit: { headers: { "X-Forwarded-Access-Token": "forged" } },
    })

  /** What the target last received as the downstream token, on a POST (the SDK's GET stream may come late). */
  const lastForwarded = () =>
    mcp.requests.filter((r) => r.method === "POST").at(-1)?.headers["x-forwarded-access-token"]

  /** A JSON-RPC POST with a proxy token, outside the SDK (its answer is not the point). */
  const post = (proxyToken: string) =>
    fetch(`${url}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${proxyToken}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    })

  it("the target gets the exchanged token, one exchange per session; renewed near expiry; failures are answered, not forwarded", async () => {
    // Session A: many calls, one exchange.
    const a = await signIn()
    for (let i = 0; i < 4; i++) {
      const result = await a.client.callTool({ name: "whoami", arguments: {} })
      expect(result.structuredContent).toMatchObject({ user: "ada" })
    }
    expect(exchange.requests).toBe(1)
    const exchanged = exchange.issued[0]!
    const forwarded = mcp.requests.filter((r) => r.headers["x-auth-request-user"] === "ada")
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
      act: { sub: idp.clients[0]!.client_id },
    })
    expect(claims.aud).not.toBe(idp.audience)
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
    const seen = mcp.requests.length
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
    expect(mcp.requests.length).toBe(seen)

    // Back up: five concurrent requests of the session share one exchange.
    exchange.mode = "ok"
    exchange.ttl = 300
    const count = exchange.requests
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => post(proxyToken)))
    await Promise.all(answers.map((r) => r.text()))
    expect(exchange.requests).toBe(count + 1)
    const last = exchange.issued.at(-1)!
    expect(mcp.requests.slice(seen).map((r) => r.headers["x-forwarded-access-token"])).toEqual([
      last,
      last,
      last,
      last,
      last,
    ])

    // No token of any kind in the gateway's output.
    const logs = gateway.output()
    for (const token of [...exchange.issued, proxyToken, a.provider.tokens()!.access_token])
      expect(logs).not.toContain(token)
    expect(logs).toContain("downstream token not obtained")
  }, 90_000)
})

describe("downstream tokens (Entra on-behalf-of form) through the oidc-proxy binary", () => {
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let gateway: GatewayProcess.GatewayProcess
  let url = ""
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-obo-"))

  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
      tokenExchange: { ttl: 300, audiences: ["api://downstream"] },
    })
    mcp = await McpServer.startMcpServer()
    url = `http://127.0.0.1:${await Ports.freePort()}`
    gateway = await GatewayProcess.spawnGateway(url, {
      ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
      OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
      OIDC_PROXY_SECRET: "downstream-obo-secret-0123456789-abcdefghij",
      OIDC_PROXY_DOWNSTREAM_TOKEN: "entra-obo",
      OIDC_PROXY_DOWNSTREAM_TOKEN_HEADER: "authorization",
      OIDC_PROXY_EXCHANGE_SCOPE: "api://downstream/.default",
    })
  }, 30_000)

  afterAll(async () => {
    await gateway?.stop()
    await mcp?.close()
    await idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it("the target's Authorization carries the on-behalf-of token, obtained once for the session", async () => {
    const { client, provider } = await McpClient.connectWithOAuth(`${url}/mcp`, {
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
      scope: "openid email offline_access mcp:read",
    })
    await client.callTool({ name: "whoami", arguments: {} })
    await client.callTool({ name: "whoami", arguments: {} })
    await client.close()
    const exchange = idp.tokenExchange!
    expect(exchange.requests).toBe(1)
    const token = exchange.issued[0]!
    expect(decodeJwt(token)).toMatchObject({ aud: "api://downstream", sub: "ada" })
    const posts = mcp.requests.filter((r) => r.method === "POST")
    expect(posts.length).toBeGreaterThanOrEqual(3)
    for (const r of posts) expect(r.headers.authorization).toBe(`Bearer ${token}`)
    expect(token).not.toBe(provider.tokens()!.access_token)
    expect(gateway.output()).not.toContain(token)
  }, 60_000)
})

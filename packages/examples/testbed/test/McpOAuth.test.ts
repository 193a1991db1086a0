/**
 * The real MCP SDK client's OAuth flow, headless, against the real LocalIdp (which supports DCR and PKCE):
 * once through the SDK's `auth()` directly, once through `connectWithOAuth` behind a bearer gateway.
 *
 * @since 0.1.0
 */
import { refreshAuthorization } from "@modelcontextprotocol/sdk/client/auth.js"
import { InvalidGrantError } from "@modelcontextprotocol/sdk/server/auth/errors.js"
import { decodeJwt } from "jose"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type LocalIdp, startLocalIdp } from "../src/LocalIdp.ts"
import { authorizeWithSdk, connectWithOAuth, HeadlessOAuthProvider } from "../src/McpClient.ts"
import { type RunningMcpServer, startMcpServer } from "../src/McpServer.ts"
import { formatTranscript } from "../src/Transcript.ts"
import { startBearerGateway } from "./support.ts"

describe("McpClient", () => {
  let idp: LocalIdp
  let mcp: RunningMcpServer
  let gateway: Awaited<ReturnType<typeof startBearerGateway>>

  beforeAll(async () => {
    mcp = await startMcpServer()
    gateway = await startBearerGateway(mcp.url, () => idp.issuer)
    idp = await startLocalIdp({
      registration: true,
      audience: gateway.resource,
      scopes: ["mcp:read", "mcp:write"],
    })
  })
  afterAll(async () => {
    await gateway?.close()
    await mcp?.close()
    await idp?.close()
  })

  it("auth() - DCR + PKCE against the IdP yields a JWT access token with scope and aud; refresh; revocation", async () => {
    const provider = new HeadlessOAuthProvider({ scope: "openid email offline_access mcp:read" })
    assert.strictEqual(await authorizeWithSdk(idp.issuer, provider), "AUTHORIZED")

    assert.lengthOf(provider.registrationRequests(), 1)
    const client = provider.clientInformation()!
    assert.strictEqual(provider.savedClients[0]?.client_id, client.client_id)
    // The SDK adds prompt=consent because offline_access was asked for.
    assert.strictEqual(provider.authorizationUrls[0]?.searchParams.get("prompt"), "consent")
    assert.strictEqual(provider.authorizationUrls[0]?.searchParams.get("code_challenge_method"), "S256")

    const first = provider.tokens()!
    const claims = decodeJwt(first.access_token)
    assert.strictEqual(claims["scope"], "mcp:read")
    assert.strictEqual(claims.aud, gateway.resource)
    assert.strictEqual(claims["client_id"], client.client_id)
    assert.isString(first.refresh_token)

    // With a refresh token stored, auth() refreshes instead of opening the browser again.
    assert.strictEqual(await authorizeWithSdk(idp.issuer, provider), "AUTHORIZED")
    const second = provider.tokens()!
    assert.lengthOf(provider.authorizationUrls, 1)
    assert.notStrictEqual(second.access_token, first.access_token)
    assert.strictEqual(decodeJwt(second.access_token)["scope"], "mcp:read")

    const meta = provider.discoveryState()!.authorizationServerMetadata!
    const revoked = await fetch(`${idp.issuer}/token/revocation`, {
      method: "POST",
      body: new URLSearchParams({ token: second.refresh_token!, client_id: client.client_id }),
    })
    assert.strictEqual(revoked.status, 200)
    const refreshAgain = refreshAuthorization(idp.issuer, {
      metadata: meta,
      clientInformation: client,
      refreshToken: second.refresh_token!,
    })
    await refreshAgain.then(
      () => assert.fail("a revoked refresh token must not refresh"),
      (error: unknown) => assert.instanceOf(error, InvalidGrantError),
    )
  })

  it("connectWithOAuth - 401 → PRM → DCR → login/consent → token → reconnect → whoami", async () => {
    const { client, provider } = await connectWithOAuth(gateway.url)
    try {
      const result = await client.callTool({ name: "whoami" })
      const whoami = result.structuredContent as Record<string, unknown>
      assert.strictEqual(whoami["user"], "ada")
      assert.strictEqual(whoami["scopes"], "mcp:read")
      assert.strictEqual(whoami["client_id"], provider.clientInformation()?.client_id)
    } finally {
      await client.close()
    }
    const steps = provider.transcript.map(
      (e) => `${e.via} ${e.method} ${new URL(e.url).pathname} ${e.status}`,
    )
    const expected = [
      "sdk POST /mcp 401",
      "sdk GET /.well-known/oauth-protected-resource/mcp 200",
      "sdk GET /.well-known/oauth-authorization-server 200",
      "sdk POST /reg 201",
      "browser GET /auth 303",
      "browser POST /interaction/ 303", // dev login
      "browser POST /interaction/ 303", // dev consent
      "sdk POST /token 200",
      "sdk POST /mcp 200",
    ]
    let next = 0
    for (const step of steps) {
      const want = expected[next]
      if (want !== undefined && step.replace(/\/interaction\/[^ ]+/, "/interaction/") === want) next++
    }
    assert.strictEqual(
      next,
      expected.length,
      `missing "${expected[next]}" in order:\n${formatTranscript(provider.transcript)}`,
    )
    assert.isTrue(provider.lastCallback?.href.startsWith("http://127.0.0.1:8976/callback?"))
    assert.lengthOf(provider.registrationRequests(), 1)
    // Secrets never reach the transcript.
    assert.notInclude(formatTranscript(provider.transcript), provider.tokens()!.access_token)
    assert.isFalse(provider.transcript.some((e) => /[?&]code=(?!\*\*\*)/.test(e.location ?? "")))
  })

  it("connectWithOAuth - a provider that already holds tokens connects without DCR or browser", async () => {
    const { client: first, provider } = await connectWithOAuth(gateway.url)
    await first.close()
    const before = provider.transcript.length
    const { client } = await connectWithOAuth(gateway.url, { provider })
    try {
      assert.strictEqual((await client.callTool({ name: "whoami" })).isError, undefined)
    } finally {
      await client.close()
    }
    const after = provider.transcript.slice(before)
    assert.isFalse(after.some((e) => e.via === "browser" || e.status === 401))
    assert.lengthOf(provider.registrationRequests(), 1)
  })
})

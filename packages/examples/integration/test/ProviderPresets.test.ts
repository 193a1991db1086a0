/**
 * Provider presets end to end: the `oidc-proxy` binary configured with `OIDC_PROXY_PROVIDER` and
 * its provider variables, pointed at a local stand-in that behaves as the provider documents, driven
 * by the real MCP SDK client: sign-in, `whoami`, refresh, revoke, 401 after revocation, and a user
 * refused at the callback (Google: the hosted-domain rule; Entra: an `iss` that is not the template
 * with the token's own `tid`).
 *
 * Entra stand-in: oidc-provider mounted at `/{tenant id}/v2.0` (tokens' `iss` and `tid`), and the
 * multi-tenant `/organizations/v2.0` discovery document naming the `{tenantid}` template.
 * Google stand-in: `hd` in the id_token; the preset's id_token mode.
 * SAP CIS stand-in: the id_token is also the access token (LocalIdp's `sameJwt`).
 */
import {
  GatewayProcess,
  HeadlessBrowser,
  LocalIdp as Idp,
  McpClient,
  McpServer,
  Ports,
} from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
const otherTid = "0b1c2d3e-4f50-4612-8734-95a6b7c8d9e0"

const form = (params: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
})

const signIn = (url: string, login: string) =>
  McpClient.connectWithOAuth(`${url}/mcp`, {
    interact: HeadlessBrowser.firstOf(
      HeadlessBrowser.pressButton("decision", "approve"),
      HeadlessBrowser.oidcProviderDevInteractions({ login }),
    ),
    scope: "openid email offline_access",
  })

/** whoami, refresh, the refreshed token works, revoke, 401. */
const fullFlow = async (
  url: string,
  login: string,
  email: string,
  scopes = "email offline_access openid profile",
) => {
  const { client, provider } = await signIn(url, login)
  const result = await client.callTool({ name: "whoami", arguments: {} })
  expect(result.structuredContent).toMatchObject({
    user: login,
    email,
    scopes,
  })
  const tokens = provider.tokens()!
  const clientId = provider.clientInformation()!.client_id
  const refreshed = await fetch(
    `${url}/token`,
    form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: clientId }),
  )
  expect(refreshed.status).toBe(200)
  const pair = (await refreshed.json()) as { access_token: string; refresh_token: string }
  const call = (token: string) =>
    fetch(`${url}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
    })
  expect((await call(pair.access_token)).status).toBe(200)
  const revoked = await fetch(`${url}/revoke`, form({ token: pair.refresh_token, client_id: clientId }))
  expect(revoked.status).toBe(200)
  expect((await call(pair.access_token)).status).toBe(401)
  await client.close()
}

interface Setup {
  readonly idp: Idp.LocalIdpOptions
  readonly env: (idp: Idp.LocalIdp, base: string) => Record<string, string>
}

const withPreset = (name: string, setup: Setup, body: (url: string) => Promise<void>) =>
  describe(`OIDC_PROXY_PROVIDER=${name} against its stand-in`, () => {
    let idp: Idp.LocalIdp
    let mcp: McpServer.RunningMcpServer
    let gateway: GatewayProcess.GatewayProcess
    let url = ""
    beforeAll(async () => {
      idp = await Idp.startLocalIdp({
        quiet: true,
        client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
        ...setup.idp,
      })
      mcp = await McpServer.startMcpServer()
      url = `http://127.0.0.1:${await Ports.freePort()}`
      const client = idp.clients[0]!
      gateway = await GatewayProcess.spawnGateway(url, {
        OIDC_PROXY_BASE_URL: url,
        OIDC_PROXY_TARGET: mcp.url,
        OIDC_PROXY_UPSTREAM_CLIENT_ID: client.client_id,
        OIDC_PROXY_UPSTREAM_CLIENT_SECRET: client.client_secret,
        OIDC_PROXY_STORE: "memory",
        OIDC_PROXY_SECRET: "preset-test-secret-0123456789-abcdefghij",
        OIDC_PROXY_PROVIDER: name,
        ...setup.env(idp, `http://127.0.0.1:${idp.port}`),
      })
    }, 30_000)
    afterAll(async () => {
      await gateway?.stop()
      await mcp?.close()
      await idp?.close()
    })
    it("sign-in → whoami → refresh → revoke → 401, and the refusals the stand-in shows", async () => {
      await body(url)
    }, 90_000)
  })

withPreset(
  "entra",
  {
    idp: {
      issuerPath: `/${tid}/v2.0`,
      aliasDiscovery: { path: "/organizations/v2.0", issuer: (base) => `${base}/{tenantid}/v2.0` },
      accounts: {
        ada: { email: "ada@contoso.test", email_verified: true, extra: { tid } },
        eve: { email: "eve@fabrikam.test", email_verified: true, extra: { tid: otherTid } },
      },
    },
    env: (_idp, base) => ({
      OIDC_PROXY_ENTRA_TENANT: "organizations",
      OIDC_PROXY_UPSTREAM_ISSUER: `${base}/organizations/v2.0`,
      OIDC_PROXY_ALLOWED_TENANTS: tid,
    }),
  },
  async (url) => {
    await fullFlow(url, "ada", "ada@contoso.test")
    // The stand-in signs every token with its one tenant's issuer: eve's `tid` names another tenant, so
    // her id_token's `iss` is not the template with her own `tid`, and the exchange is refused.
    await expect(signIn(url, "eve")).rejects.toThrow(/server_error The identity provider did not complete/)
  },
)

withPreset(
  "google",
  {
    idp: {
      accounts: {
        ada: { email: "ada@example.com", email_verified: true, extra: { hd: "example.com" } },
        eve: { email: "eve@gmail.test", email_verified: true },
      },
    },
    env: (idp) => ({
      OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
      OIDC_PROXY_ALLOWED_HOSTED_DOMAINS: "example.com",
    }),
  },
  async (url) => {
    await fullFlow(url, "ada", "ada@example.com")
    await expect(signIn(url, "eve")).rejects.toThrow(
      /access_denied This account may not sign in here: its hosted domain/,
    )
  },
)

withPreset(
  "sap-cis",
  // The stand-in answers with the id_token as the access token too, as SAP CIS does.
  {
    idp: { sameJwt: true },
    env: (idp) => ({
      OIDC_PROXY_SAP_CIS_TENANT: "example.accounts.ondemand.com",
      OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
    }),
  },
  async (url) => {
    await fullFlow(url, "ada", "ada@example.test")
  },
)

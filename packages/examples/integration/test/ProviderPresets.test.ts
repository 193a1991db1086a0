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
 * Keycloak, Auth0, Okta and Cognito stand-ins: the issuer's path, and access tokens with the
 * provider's documented claims (LocalIdp's `accessTokenShape`; Auth0's `audience` parameter through
 * `audienceParameter`). The gateway is configured only through the preset's variables.
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

/**
 * whoami (`user` defaults to the login, which is the stand-in's `sub`), refresh, the refreshed token
 * works, revoke, 401.
 */
const fullFlow = async (
  url: string,
  login: string,
  email: string | null,
  scopes = "email offline_access openid profile",
  user = login,
) => {
  const { client, provider } = await signIn(url, login)
  const result = await client.callTool({ name: "whoami", arguments: {} })
  expect(result.structuredContent).toMatchObject({
    user,
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
    McpClient.postJsonRpc(`${url}/mcp`, token, { method: "tools/list", params: {} })
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

/**
 * The scopes in the access tokens of the stand-ins below: what the proxy asked for, but without
 * `offline_access`, which oidc-provider grants only with `prompt=consent` (the providers imitated
 * keep it; Cognito has no such scope).
 */
const grantedScopes = "email openid profile"

const keycloakUser = "5b0e6c3a-7f21-4d8e-9a44-1c2b3d4e5f60"

withPreset(
  "keycloak",
  // Realm issuer; an access token as Keycloak writes it with an "Audience" mapper for the proxy's
  // client: `aud` an array with `account` besides, `azp`, `typ: Bearer`, `scope` a string with
  // `openid`, the profile and email claims, realm roles.
  {
    idp: {
      issuerPath: "/realms/mcp",
      accounts: {
        [keycloakUser]: { email: "ada@example.org", email_verified: true, preferred_username: "ada" },
      },
      accessTokenShape: {
        typ: "JWT",
        claims: (t, granted) => ({
          exp: t["exp"],
          iat: t["iat"],
          jti: t["jti"],
          iss: t["iss"],
          aud: [t["client_id"], "account"],
          sub: t["sub"],
          typ: "Bearer",
          azp: t["client_id"],
          sid: "3c1d7e1b-0b55-4a49-9a0f-6a2f7e0c8d11",
          realm_access: { roles: ["offline_access", "default-roles-mcp"] },
          resource_access: { account: { roles: ["manage-account", "view-profile"] } },
          scope: granted.scope,
          email_verified: true,
          preferred_username: "ada",
          email: "ada@example.org",
        }),
      },
    },
    env: (_idp, base) => ({ OIDC_PROXY_KEYCLOAK_URL: base, OIDC_PROXY_KEYCLOAK_REALM: "mcp" }),
  },
  async (url) => {
    await fullFlow(url, keycloakUser, "ada@example.org", grantedScopes)
  },
)

const auth0Api = "https://api.example.test/"

withPreset(
  "auth0",
  // Issuer with the trailing slash; a JWT access token only for an authorization request naming the
  // API in `audience` (without it the stand-in issues an opaque token, as Auth0 does); `aud` the API
  // and the tenant's userinfo; RBAC's `permissions` next to `scope`; no email in the access token.
  {
    idp: {
      issuerPath: "/",
      audience: auth0Api,
      audienceParameter: "audience",
      accounts: { "auth0|ada": { email: "ada@example.com", email_verified: true } },
      accessTokenShape: {
        typ: "JWT",
        claims: (t, granted) => ({
          iss: t["iss"],
          sub: t["sub"],
          aud: [auth0Api, `${t["iss"]}userinfo`],
          iat: t["iat"],
          exp: t["exp"],
          azp: t["client_id"],
          scope: granted.scope,
          permissions: ["read:tools", "admin:everything"],
        }),
      },
    },
    env: (idp) => ({
      OIDC_PROXY_AUTH0_DOMAIN: "example.eu.auth0.com",
      OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
      OIDC_PROXY_UPSTREAM_AUDIENCE: auth0Api,
    }),
  },
  async (url) => {
    // Auth0 puts no email in access tokens (only as a namespaced custom claim, by an Action): it
    // comes from the id_token verified at sign-in, whose `iss` and `sub` are the access token's.
    await fullFlow(url, "auth0|ada", "ada@example.com", grantedScopes)
  },
)

withPreset(
  "okta",
  // The default custom authorization server: `aud` api://default, `scp` an array, `cid` the client,
  // `uid` the user id, and `sub` the user's login (the id_token's `sub` is the user id).
  {
    idp: {
      issuerPath: "/oauth2/default",
      audience: "api://default",
      accounts: { "00u1ada2b3c4d5e6f7g8": { email: "ada@example.com", email_verified: true } },
      accessTokenShape: {
        claims: (t, granted) => ({
          ver: 1,
          jti: `AT.${String(t["jti"])}`,
          iss: t["iss"],
          aud: "api://default",
          iat: t["iat"],
          exp: t["exp"],
          cid: t["client_id"],
          uid: t["sub"],
          scp: granted.scope.split(" "),
          auth_time: t["iat"],
          sub: "ada@example.com",
        }),
      },
    },
    env: (idp) => ({ OIDC_PROXY_OKTA_DOMAIN: "example.okta.com", OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer }),
  },
  async (url) => {
    // No email header: the access token's `sub` (the login) is not the id_token's (the user id), so
    // nothing of the id_token is taken.
    await fullFlow(url, "00u1ada2b3c4d5e6f7g8", null, grantedScopes, "ada@example.com")
  },
)

const cognitoPool = "eu-west-1_AbCdEf123"
const cognitoUser = "d4c8a3f2-1b6e-4f0a-9c7d-2e5b8a1f3c90"

withPreset(
  "cognito",
  // The user pool's issuer; an access token without `aud`, naming the app client in `client_id`,
  // with `token_use: access`, `username` and `cognito:groups`; the id_token keeps `aud`.
  {
    idp: {
      issuerPath: `/${cognitoPool}`,
      accounts: {
        [cognitoUser]: {
          email: "ada@example.com",
          email_verified: true,
          extra: { "cognito:username": "ada", "cognito:groups": ["admins"], token_use: "id" },
        },
      },
      accessTokenShape: {
        claims: (t, granted) => ({
          sub: t["sub"],
          "cognito:groups": ["admins"],
          iss: t["iss"],
          version: 2,
          client_id: t["client_id"],
          origin_jti: "7f1e2d3c-4b5a-4968-8776-655443322110",
          token_use: "access",
          scope: granted.scope,
          auth_time: t["iat"],
          exp: t["exp"],
          iat: t["iat"],
          jti: t["jti"],
          username: "ada",
        }),
      },
    },
    env: (idp) => ({ OIDC_PROXY_COGNITO_USER_POOL_ID: cognitoPool, OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer }),
  },
  async (url) => {
    // Cognito's access tokens carry no email; the id_token verified at sign-in does (same `sub`).
    await fullFlow(url, cognitoUser, "ada@example.com", grantedScopes)
  },
)

/**
 * `OIDC_PROXY_PROVIDER=github` end to end: the `oidc-proxy` binary pointed at the testbed's GitHub
 * stand-in (form-encoded token answers unless JSON is asked for, errors with HTTP 200, `/user` with
 * `X-OAuth-Scopes`, `/user/emails`, `/user/orgs`, the application-token DELETE), driven by the real
 * MCP SDK client. An OAuth App (tokens that never expire, no refresh token) with an organization
 * allow-list: sign-in, `whoami` with GitHub's numeric id, the primary verified email and the granted
 * scopes, revocation through the application-token API after which GitHub refuses the token, and a
 * user outside the allowed organizations refused at the callback; a user whose allowed organization
 * is on page 2 of `/user/orgs` let in, and one with more than the 10 pages the proxy reads refused
 * with a description that says so. A GitHub App with expiring user
 * tokens: the upstream token is refreshed (rotating refresh token), and revocation deletes the
 * current access token.
 */
import { get } from "node:http"
import {
  GatewayProcess,
  GitHubStandIn,
  HeadlessBrowser,
  McpClient,
  McpServer,
  Ports,
} from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const clientId = "Iv1.0123456789abcdef"
const clientSecret = "0123456789abcdef0123456789abcdef01234567"
/** `count` private memberships, `acme` at index `acmeAt`. */
function manyOrgs(count: number, acmeAt: number): Array<{ login: string; public: boolean }> {
  return Array.from({ length: count }, (_, i) => ({
    login: i === acmeAt ? "acme" : `org-${i}`,
    public: false,
  }))
}

const users: Record<string, GitHubStandIn.User> = {
  octocat: {
    id: 583231,
    emails: [
      { email: "octocat@users.noreply.github.test", primary: false, verified: true },
      { email: "octocat@example.com", primary: true, verified: true },
    ],
    orgs: [{ login: "acme", public: false }],
  },
  eve: {
    id: 1000001,
    emails: [{ email: "eve@example.com", primary: true, verified: true }],
    orgs: [{ login: "other", public: true }],
  },
  // GitHub lists 100 organizations a page: the allowed one is on page 2.
  paged: {
    id: 1000002,
    emails: [{ email: "paged@example.com", primary: true, verified: true }],
    orgs: manyOrgs(150, 120),
  },
  // More than the 10 pages the proxy reads, the allowed one past them.
  sprawling: {
    id: 1000003,
    emails: [{ email: "sprawling@example.com", primary: true, verified: true }],
    orgs: manyOrgs(1_050, 1_040),
  },
}

const form = (params: Record<string, string>) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(params).toString(),
})

const call = (url: string, token: string) =>
  McpClient.postJsonRpc(`${url}/mcp`, token, { method: "tools/list", params: {} })

const signIn = (url: string) =>
  McpClient.connectWithOAuth(`${url}/mcp`, {
    interact: HeadlessBrowser.pressButton("decision", "approve"),
    scope: "read:user user:email offline_access",
  })

const withGitHub = (
  name: string,
  options: { readonly expiresIn?: number; readonly env?: Record<string, string> },
  body: (url: string, github: GitHubStandIn.GitHubStandIn) => Promise<void>,
) =>
  describe(name, () => {
    let github: GitHubStandIn.GitHubStandIn
    let mcp: McpServer.RunningMcpServer
    let gateway: GatewayProcess.GatewayProcess
    let url = ""
    beforeAll(async () => {
      github = await GitHubStandIn.start({ clientId, clientSecret, users, ...options })
      mcp = await McpServer.startMcpServer()
      url = `http://127.0.0.1:${await Ports.freePort()}`
      gateway = await GatewayProcess.spawnGateway(url, {
        OIDC_PROXY_BASE_URL: url,
        OIDC_PROXY_TARGET: mcp.url,
        OIDC_PROXY_UPSTREAM_CLIENT_ID: clientId,
        OIDC_PROXY_UPSTREAM_CLIENT_SECRET: clientSecret,
        OIDC_PROXY_STORE: "memory",
        OIDC_PROXY_SECRET: "github-preset-test-secret-0123456789-abcdef",
        OIDC_PROXY_PROVIDER: "github",
        OIDC_PROXY_GITHUB_URL: github.url,
        OIDC_PROXY_GITHUB_API_URL: github.apiUrl,
        ...options.env,
      })
    }, 30_000)
    afterAll(async () => {
      await gateway?.stop()
      await mcp?.close()
      await github?.close()
    })
    it("sign-in → whoami → revoke at GitHub → 401", async () => {
      await body(url, github)
    }, 90_000)
  })

/** Revokes the session through the proxy; GitHub saw the DELETE and refuses the token afterwards. */
const revokeAndCheck = async (
  url: string,
  github: GitHubStandIn.GitHubStandIn,
  token: string,
  refresh: string,
  clientId: string,
) => {
  const revoked = await fetch(`${url}/revoke`, form({ token: refresh, client_id: clientId }))
  expect(revoked.status).toBe(200)
  expect(github.deletedTokens).toHaveLength(1)
  const upstream = await fetch(`${github.apiUrl}/user`, {
    headers: { authorization: `Bearer ${github.deletedTokens[0]}`, "user-agent": "test" },
  })
  expect(upstream.status).toBe(401)
  expect((await call(url, token)).status).toBe(401)
}

withGitHub(
  "OIDC_PROXY_PROVIDER=github, an OAuth App with an organization allow-list",
  { env: { OIDC_PROXY_ALLOWED_ORGS: "acme" } },
  async (url, github) => {
    github.signedIn = "octocat"
    const { client, provider } = await signIn(url)
    const result = await client.callTool({ name: "whoami", arguments: {} })
    expect(result.structuredContent).toMatchObject({
      user: "583231",
      email: "octocat@example.com",
      // What GitHub reports in X-OAuth-Scopes: read:org was added by the preset for the allow-list.
      scopes: "read:org read:user user:email",
    })
    const tokens = provider.tokens()!
    const registered = provider.clientInformation()!.client_id
    expect(github.requests).toContain("GET /api/user/orgs")
    await revokeAndCheck(url, github, tokens.access_token, tokens.refresh_token!, registered)
    await client.close()
    github.signedIn = "eve"
    await expect(signIn(url)).rejects.toThrow(
      /access_denied This account may not sign in here: it is in none of the allowed organizations/,
    )
    github.signedIn = "paged"
    const paged = await signIn(url)
    expect(github.requests.filter((r) => r === "GET /api/user/orgs").length).toBeGreaterThanOrEqual(4)
    await paged.client.close()
    github.signedIn = "sprawling"
    await expect(signIn(url)).rejects.toThrow(
      /access_denied This account may not sign in here: none of the organizations read is allowed, and it is in more than the proxy reads/,
    )
  },
)

withGitHub(
  "OIDC_PROXY_PROVIDER=github, a GitHub App with expiring user tokens",
  // Shorter than the proxy's refresh skew (60 s): every check refreshes the upstream token.
  { expiresIn: 30 },
  async (url, github) => {
    const { client, provider } = await signIn(url)
    const result = await client.callTool({ name: "whoami", arguments: {} })
    expect(result.structuredContent).toMatchObject({
      user: "583231",
      email: "octocat@example.com",
      // A GitHub App reports no scopes: those recorded at sign-in (the client's request).
      scopes: "offline_access read:user user:email",
    })
    expect(github.refreshes()).toBeGreaterThan(0)
    const registered = provider.clientInformation()!.client_id
    const refreshed = await fetch(
      `${url}/token`,
      form({
        grant_type: "refresh_token",
        refresh_token: provider.tokens()!.refresh_token!,
        client_id: registered,
      }),
    )
    expect(refreshed.status).toBe(200)
    const pair = (await refreshed.json()) as { access_token: string; refresh_token: string }
    expect((await call(url, pair.access_token)).status).toBe(200)
    await revokeAndCheck(url, github, pair.access_token, pair.refresh_token, registered)
    await client.close()
  },
)

describe("GitHubStandIn", () => {
  it("behaves as GitHub documents: form answers unless JSON is asked for, errors with 200, User-Agent required", async () => {
    const github = await GitHubStandIn.start({ clientId, clientSecret, users })
    try {
      const exchange = (accept?: string) =>
        fetch(`${github.url}/login/oauth/access_token`, {
          ...form({ client_id: clientId, client_secret: clientSecret, code: "never-issued" }),
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            ...(accept === undefined ? {} : { accept }),
          },
        })
      const plain = await exchange()
      expect(plain.status).toBe(200)
      expect(plain.headers.get("content-type")).toMatch(/^application\/x-www-form-urlencoded/)
      expect(new URLSearchParams(await plain.text()).get("error")).toBe("bad_verification_code")
      const asJson = await exchange("application/json")
      expect(asJson.status).toBe(200)
      expect(((await asJson.json()) as { error: string }).error).toBe("bad_verification_code")
      // node:http sends no User-Agent unless told to (fetch always sends one).
      const status = (headers: Record<string, string>) =>
        new Promise<number>((resolve, reject) =>
          get(`${github.apiUrl}/user`, { headers }, (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          }).on("error", reject),
        )
      expect(await status({ authorization: "Bearer gho_unknown" })).toBe(403)
      expect(await status({ authorization: "Bearer gho_unknown", "user-agent": "test" })).toBe(401)
    } finally {
      await github.close()
    }
  })
})

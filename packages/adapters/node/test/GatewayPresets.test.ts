/**
 * `OIDC_PROXY_PROVIDER`: a preset fills in the upstream variables (shown with the source `preset`),
 * the environment still overrides each, and a problem names the variable and the preset.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as GatewayConfig from "../src/GatewayConfig.ts"

const base = {
  OIDC_PROXY_BASE_URL: "http://127.0.0.1:8080",
  OIDC_PROXY_TARGET: "http://127.0.0.1:9000/mcp",
  OIDC_PROXY_UPSTREAM_CLIENT_ID: "app",
  OIDC_PROXY_UPSTREAM_CLIENT_SECRET: "s3cret",
  OIDC_PROXY_DEV: "true",
}
const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"

const proxyOf = (env: Record<string, string>) => {
  const result = GatewayConfig.decode(env)
  if (Result.isFailure(result)) throw new Error(result.failure.message)
  return result.success.proxy as {
    verification_mode: string
    upstream: Record<string, unknown>
    access: Record<string, unknown>
  }
}
const issuesOf = (env: Record<string, string>) => {
  const result = GatewayConfig.decode(env)
  if (Result.isSuccess(result)) throw new Error("expected the configuration to be refused")
  return result.failure.issues
}

describe("GatewayPresets", () => {
  it("entra - one variable: templated issuer, id_token mode, scopes; shown as preset values", () => {
    const env = {
      ...base,
      OIDC_PROXY_PROVIDER: "entra",
      OIDC_PROXY_ENTRA_TENANT: "organizations",
      OIDC_PROXY_ALLOWED_TENANTS: tid,
    }
    const proxy = proxyOf(env)
    assert.strictEqual(proxy.upstream["issuer"], "https://login.microsoftonline.com/organizations/v2.0")
    assert.strictEqual(proxy.upstream["issuer_template"], "https://login.microsoftonline.com/{tenantid}/v2.0")
    assert.strictEqual(proxy.verification_mode, "id_token")
    assert.deepStrictEqual(proxy.access["tenants"], [tid])
    const texts = GatewayConfig.read(env).texts
    assert.deepStrictEqual(texts["OIDC_PROXY_UPSTREAM_ISSUER"], {
      text: "https://login.microsoftonline.com/organizations/v2.0",
      source: "preset",
    })
    assert.strictEqual(texts["OIDC_PROXY_ALLOWED_TENANTS"]?.source, "environment")
    assert.strictEqual(texts["OIDC_PROXY_STORE"]?.source, "default")
  })

  it("overrides - an issuer set in the environment moves what the preset derives from it", () => {
    const proxy = proxyOf({
      ...base,
      OIDC_PROXY_PROVIDER: "entra",
      OIDC_PROXY_ENTRA_TENANT: "common",
      OIDC_PROXY_UPSTREAM_ISSUER: "http://127.0.0.1:5555/common/v2.0",
      OIDC_PROXY_VERIFY_ID_TOKEN: "false",
    })
    assert.strictEqual(proxy.upstream["issuer_template"], "http://127.0.0.1:5555/{tenantid}/v2.0")
    assert.strictEqual(proxy.verification_mode, "access_token")
  })

  it("google, auth0, cognito - their parameters reach the configuration", () => {
    const google = proxyOf({
      ...base,
      OIDC_PROXY_PROVIDER: "google",
      OIDC_PROXY_ALLOWED_HOSTED_DOMAINS: "example.com",
    })
    assert.deepStrictEqual(google.upstream["extra_authorize_params"], {
      access_type: "offline",
      prompt: "consent",
      hd: "example.com",
    })
    assert.deepStrictEqual(google.access["hosted_domains"], ["example.com"])
    const auth0 = proxyOf({
      ...base,
      OIDC_PROXY_PROVIDER: "auth0",
      OIDC_PROXY_AUTH0_DOMAIN: "example.eu.auth0.com",
      OIDC_PROXY_UPSTREAM_AUDIENCE: "https://api.example",
    })
    assert.deepStrictEqual(auth0.upstream["extra_authorize_params"], { audience: "https://api.example" })
    assert.strictEqual(auth0.upstream["issuer"], "https://example.eu.auth0.com/")
    const cognito = proxyOf({
      ...base,
      OIDC_PROXY_PROVIDER: "cognito",
      OIDC_PROXY_COGNITO_USER_POOL_ID: "eu-west-1_Ab12",
    })
    assert.strictEqual(cognito.upstream["access_token_client_id"], true)
  })

  it("errors - each names the variable and the preset", () => {
    assert.deepStrictEqual(issuesOf({ ...base, OIDC_PROXY_PROVIDER: "entra" }), [
      "OIDC_PROXY_ENTRA_TENANT: required by OIDC_PROXY_PROVIDER=entra, not set",
    ])
    assert.deepStrictEqual(
      issuesOf({ ...base, OIDC_PROXY_PROVIDER: "entra", OIDC_PROXY_ENTRA_TENANT: "contoso.com" }),
      [
        "OIDC_PROXY_ENTRA_TENANT: must be a tenant id (a GUID in lower case), common, organizations or consumers (OIDC_PROXY_PROVIDER=entra)",
      ],
    )
    assert.deepStrictEqual(
      issuesOf({ ...base, OIDC_PROXY_PROVIDER: "auth0", OIDC_PROXY_AUTH0_DOMAIN: "x.auth0.com" }),
      ["OIDC_PROXY_UPSTREAM_AUDIENCE: is required (the API identifier) (OIDC_PROXY_PROVIDER=auth0)"],
    )
    const stray = issuesOf({ ...base, OIDC_PROXY_PROVIDER: "google", OIDC_PROXY_OKTA_DOMAIN: "x.okta.com" })
    assert.include(
      stray,
      "OIDC_PROXY_OKTA_DOMAIN: only read with OIDC_PROXY_PROVIDER=okta (OIDC_PROXY_PROVIDER=google)",
    )
    assert.match(issuesOf({ ...base, OIDC_PROXY_PROVIDER: "gitlab" }).join("\n"), /^OIDC_PROXY_PROVIDER: /m)
    // Without a preset the issuer is required, as before.
    assert.include(issuesOf(base), "OIDC_PROXY_UPSTREAM_ISSUER: required, not set")
  })

  it("github - one variable: endpoints by hand, /user verification, GitHub's API, organizations", () => {
    const env = { ...base, OIDC_PROXY_PROVIDER: "github", OIDC_PROXY_ALLOWED_ORGS: "acme" }
    const proxy = proxyOf(env)
    assert.strictEqual(proxy.verification_mode, "access_token")
    assert.deepStrictEqual(proxy.upstream, {
      ...proxy.upstream,
      issuer: "https://github.com",
      authorization_endpoint: "https://github.com/login/oauth/authorize",
      token_endpoint: "https://github.com/login/oauth/access_token",
      userinfo_endpoint: "https://api.github.com/user",
      verification: "userinfo",
      subject_claim: "id",
      scopes_header: "X-OAuth-Scopes",
      github_api_url: "https://api.github.com",
      scopes: ["read:user", "user:email", "read:org"],
    })
    assert.deepStrictEqual(proxy.access["organizations"], ["acme"])
    const local = proxyOf({
      ...base,
      OIDC_PROXY_PROVIDER: "github",
      OIDC_PROXY_GITHUB_URL: "http://127.0.0.1:9100",
      OIDC_PROXY_GITHUB_API_URL: "http://127.0.0.1:9100/api",
    })
    assert.strictEqual(local.upstream["token_endpoint"], "http://127.0.0.1:9100/login/oauth/access_token")
    assert.strictEqual(local.upstream["userinfo_endpoint"], "http://127.0.0.1:9100/api/user")
    assert.strictEqual(GatewayConfig.read(env).texts["OIDC_PROXY_GITHUB_API_URL"]?.source, "preset")
  })

  it("oauth2 - endpoints by hand; every missing one named with the preset", () => {
    assert.deepStrictEqual(issuesOf({ ...base, OIDC_PROXY_PROVIDER: "oauth2" }), [
      "OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: required by OIDC_PROXY_PROVIDER=oauth2, not set",
      "OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: required by OIDC_PROXY_PROVIDER=oauth2, not set",
      "OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT: required by OIDC_PROXY_PROVIDER=oauth2, not set",
    ])
    const endpoints = {
      OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: "https://as.example/authorize",
      OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: "https://as.example/token",
    }
    assert.deepStrictEqual(
      issuesOf({
        ...base,
        ...endpoints,
        OIDC_PROXY_PROVIDER: "oauth2",
        OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
      }),
      ["OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: required by OIDC_PROXY_PROVIDER=oauth2, not set"],
    )
    const proxy = proxyOf({
      ...base,
      ...endpoints,
      OIDC_PROXY_PROVIDER: "oauth2",
      OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT: "https://as.example/me",
    })
    assert.strictEqual(proxy.upstream["issuer"], "https://as.example")
    assert.strictEqual(proxy.upstream["verification"], "userinfo")
    assert.strictEqual(proxy.upstream["userinfo_endpoint"], "https://as.example/me")
  })

  it("help - lists the presets", () => {
    assert.match(
      GatewayConfig.help(),
      /OIDC_PROXY_PROVIDER[\s\S]*google[\s\S]*entra[\s\S]*cognito[\s\S]*github[\s\S]*oauth2/,
    )
  })
})

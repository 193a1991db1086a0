/**
 * The provider presets: each produces configuration core decodes, with the provider's issuer,
 * verification mode, scopes and parameters; options that cannot work are refused naming the
 * option; the caller's settings override the preset's.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import * as Providers from "../src/Providers.ts"
import * as ProxyConfig from "../src/ProxyConfig.ts"

const base = {
  issuer: "https://proxy.example",
  resource: "https://proxy.example/mcp",
  upstream: { client_id: "app" },
}
const decode = (fragment: Providers.Fragment, over: Record<string, unknown> = base) => {
  const exit = Effect.runSyncExit(ProxyConfig.decode(Providers.apply(fragment, over)))
  if (Exit.isFailure(exit)) throw new Error(String(exit.cause))
  return exit.value
}
const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"

describe("Providers", () => {
  it("google - id_token mode, offline parameters, hosted domain rule", () => {
    const c = decode(Providers.google({ hosted_domains: ["example.com"] }))
    assert.strictEqual(c.upstream.issuer, "https://accounts.google.com")
    assert.strictEqual(c.verification_mode, "id_token")
    assert.deepStrictEqual(c.upstream.extra_authorize_params, {
      access_type: "offline",
      prompt: "consent",
      hd: "example.com",
    })
    assert.notInclude(c.upstream.scopes, "offline_access")
    assert.deepStrictEqual(c.access.hosted_domains, ["example.com"])
  })

  it("entra - multi-tenant template, API scope switches to access_token mode, bad tenant refused", () => {
    const common = decode(Providers.entra({ tenant: "common", tenants: [tid] }))
    assert.strictEqual(common.upstream.issuer, "https://login.microsoftonline.com/common/v2.0")
    assert.strictEqual(common.upstream.issuer_template, "https://login.microsoftonline.com/{tenantid}/v2.0")
    assert.strictEqual(common.verification_mode, "id_token")
    assert.deepStrictEqual(common.access.tenants, [tid])
    const single = decode(Providers.entra({ tenant: tid, api_scopes: [`api://${tid}/mcp.read`] }))
    assert.strictEqual(single.upstream.issuer, `https://login.microsoftonline.com/${tid}/v2.0`)
    assert.isUndefined(single.upstream.issuer_template)
    assert.strictEqual(single.verification_mode, "access_token")
    assert.strictEqual(single.upstream.audience, tid)
    assert.include(single.upstream.scopes, "offline_access")
    const consumers = decode(Providers.entra({ tenant: "consumers" }))
    assert.strictEqual(
      consumers.upstream.issuer,
      "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    )
    const stand = decode(
      Providers.entra({ tenant: "organizations", issuer: "http://127.0.0.1:9/organizations/v2.0" }),
    )
    assert.strictEqual(stand.upstream.issuer_template, "http://127.0.0.1:9/{tenantid}/v2.0")
    for (const [options, option] of [
      [{ tenant: "contoso.onmicrosoft.com" }, "tenant"],
      [{ tenant: "common", api_scopes: ["User.Read"] }, "api_scopes"],
      [{ tenant: "common", api_scopes: ["api://my-api/read"] }, "audience"],
    ] as const) {
      const result = Providers.make(Providers.entra, options)
      assert.isTrue(Result.isFailure(result) && result.failure.option === option, option)
    }
  })

  it("auth0, okta, keycloak, sap-cis, cognito - issuer, mode and audience as each provider documents", () => {
    const a = decode(Providers.auth0({ domain: "example.eu.auth0.com", audience: "https://api.example" }))
    assert.strictEqual(a.upstream.issuer, "https://example.eu.auth0.com/")
    assert.strictEqual(a.upstream.extra_authorize_params["audience"], "https://api.example")
    assert.strictEqual(a.upstream.audience, "https://api.example")
    const o = decode(Providers.okta({ domain: "example.okta.com" }))
    assert.strictEqual(o.upstream.issuer, "https://example.okta.com/oauth2/default")
    assert.strictEqual(o.upstream.audience, "api://default")
    assert.strictEqual(o.verification_mode, "access_token")
    const org = decode(Providers.okta({ domain: "example.okta.com", authorization_server: null }))
    assert.strictEqual(org.upstream.issuer, "https://example.okta.com")
    assert.strictEqual(org.verification_mode, "id_token")
    const k = decode(
      Providers.keycloak({ base_url: "https://sso.example/", realm: "main", client_id: "app" }),
    )
    assert.strictEqual(k.upstream.issuer, "https://sso.example/realms/main")
    assert.strictEqual(k.upstream.audience, "app")
    const s = decode(Providers.sapCis({ tenant_host: "t.accounts.ondemand.com" }))
    assert.strictEqual(s.upstream.issuer, "https://t.accounts.ondemand.com")
    assert.strictEqual(s.verification_mode, "id_token")
    const c = decode(Providers.cognito({ user_pool_id: "eu-west-1_AbC123" }))
    assert.strictEqual(c.upstream.issuer, "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123")
    assert.isTrue(c.upstream.access_token_client_id)
    assert.isUndefined(c.upstream.audience)
    for (const [preset, options, option] of [
      [Providers.auth0, { domain: "https://x/", audience: "a" }, "domain"],
      [Providers.okta, { domain: "x.okta.com", authorization_server: "custom1" }, "audience"],
      [Providers.keycloak, { base_url: "sso", realm: "main", client_id: "a" }, "base_url"],
      [Providers.cognito, { user_pool_id: "AbC123" }, "user_pool_id"],
    ] as const) {
      const result = Providers.make(preset as (o: typeof options) => Providers.Fragment, options)
      assert.isTrue(Result.isFailure(result) && result.failure.option === option, option)
    }
  })

  it("github - endpoints by hand, userinfo on /user with id and X-OAuth-Scopes, no openid, orgs", () => {
    const c = decode(Providers.github({ organizations: ["acme"] }))
    assert.strictEqual(c.upstream.issuer, "https://github.com")
    assert.strictEqual(c.upstream.authorization_endpoint, "https://github.com/login/oauth/authorize")
    assert.strictEqual(c.upstream.token_endpoint, "https://github.com/login/oauth/access_token")
    assert.strictEqual(c.upstream.userinfo_endpoint, "https://api.github.com/user")
    assert.strictEqual(c.upstream.verification, "userinfo")
    assert.strictEqual(c.upstream.subject_claim, "id")
    assert.strictEqual(c.upstream.scopes_header, "X-OAuth-Scopes")
    assert.strictEqual(c.upstream.github_api_url, "https://api.github.com")
    assert.deepStrictEqual(c.upstream.scopes, ["read:user", "user:email", "read:org"])
    assert.deepStrictEqual(c.access.organizations, ["acme"])
    const local = decode(Providers.github({ url: "http://127.0.0.1:9/", api_url: "http://127.0.0.1:9/api" }))
    assert.strictEqual(local.upstream.token_endpoint, "http://127.0.0.1:9/login/oauth/access_token")
    assert.strictEqual(local.upstream.userinfo_endpoint, "http://127.0.0.1:9/api/user")
    assert.deepStrictEqual(local.upstream.scopes, ["read:user", "user:email"])
    const bad = Providers.make(Providers.github, { api_url: "api.github.com" })
    assert.isTrue(Result.isFailure(bad) && bad.failure.option === "api_url")
  })

  it("oauth2 - endpoints by hand, the strategy's endpoint required, each missing one named", () => {
    const c = decode(
      Providers.oauth2({
        authorization_endpoint: "https://as.example/authorize",
        token_endpoint: "https://as.example/token",
        verification: "introspection",
        introspection_endpoint: "https://as.example/introspect",
      }),
    )
    assert.strictEqual(c.upstream.issuer, "https://as.example")
    assert.strictEqual(c.upstream.verification, "introspection")
    assert.strictEqual(c.upstream.introspection_endpoint, "https://as.example/introspect")
    assert.deepStrictEqual(c.upstream.scopes, [])
    const missing = Providers.make(Providers.oauth2, {
      authorization_endpoint: "https://as.example/authorize",
      token_endpoint: "https://as.example/token",
    })
    assert.isTrue(Result.isFailure(missing) && missing.failure.option === "userinfo_endpoint")
    assert.match(Result.isFailure(missing) ? missing.failure.message : "", /oauth2 preset: userinfo_endpoint/)
  })

  it("apply - the caller's settings override the preset's, objects merge", () => {
    const c = decode(Providers.google(), {
      ...base,
      verification_mode: "access_token",
      upstream: { client_id: "app", scopes: ["openid"], extra_authorize_params: { prompt: "login" } },
    })
    assert.strictEqual(c.verification_mode, "access_token")
    assert.deepStrictEqual(c.upstream.scopes, ["openid"])
    assert.strictEqual(c.upstream.issuer, "https://accounts.google.com")
    assert.deepStrictEqual(c.upstream.extra_authorize_params, { access_type: "offline", prompt: "login" })
  })
})

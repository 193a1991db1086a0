/**
 * LocalIdp against real HTTP: discovery, JWKS, the code + PKCE flow through the dev pages with the
 * confidential client, JWT access tokens, refresh and revocation.
 *
 * @since 0.1.0
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { HeadlessBrowser } from "../src/HeadlessBrowser.ts"
import { type LocalIdp, startLocalIdp } from "../src/LocalIdp.ts"
import { codeFlow, discovery, post } from "./support.ts"

describe("LocalIdp", () => {
  let idp: LocalIdp
  let postIdp: LocalIdp

  beforeAll(async () => {
    idp = await startLocalIdp({ scopes: ["mcp:read", "mcp:write"], audience: "urn:test:api" })
    postIdp = await startLocalIdp({
      client: { client_id: "post-client", token_endpoint_auth_method: "client_secret_post" },
      ttl: { accessToken: 120 },
    })
  })
  afterAll(async () => {
    await idp?.close()
    await postIdp?.close()
  })

  it("discovery - serves the OpenID configuration for its 127.0.0.1 issuer", async () => {
    const meta = await discovery(idp)
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.strictEqual(meta["issuer"], idp.issuer)
    assert.strictEqual(meta["token_endpoint"], `${idp.issuer}/token`)
    assert.strictEqual(meta["revocation_endpoint"], `${idp.issuer}/token/revocation`)
    assert.includeMembers(meta["code_challenge_methods_supported"] as string[], ["S256"])
    assert.includeMembers(meta["scopes_supported"] as string[], [
      "openid",
      "profile",
      "email",
      "offline_access",
      "mcp:read",
      "mcp:write",
    ])
    // Registration is off unless asked for.
    assert.isUndefined(meta["registration_endpoint"])
  })

  it("jwks - serves the public signing key only", async () => {
    const meta = await discovery(idp)
    const jwks = (await (await fetch(meta["jwks_uri"] as string)).json()) as {
      keys: Array<Record<string, unknown>>
    }
    assert.lengthOf(jwks.keys, 1)
    const [key] = jwks.keys
    assert.strictEqual(key?.["kty"], "RSA")
    assert.isString(key?.["kid"])
    assert.notProperty(key, "d")
  })

  it("code flow - issues a JWT access token carrying scope and aud, an id_token and a refresh token", async () => {
    const tokens = await codeFlow(idp, { scope: "openid email offline_access mcp:read" })
    assert.strictEqual(decodeProtectedHeader(tokens.access_token).typ, "at+jwt")
    const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/jwks`))
    const { payload } = await jwtVerify(tokens.access_token, jwks, {
      issuer: idp.issuer,
      audience: "urn:test:api",
    })
    assert.strictEqual(payload["scope"], "mcp:read")
    assert.strictEqual(payload["client_id"], "proxy-client")
    assert.strictEqual(payload.sub, "ada")
    const idToken = await jwtVerify(tokens.id_token!, jwks, { issuer: idp.issuer, audience: "proxy-client" })
    // conformIdTokenClaims is off, so scope-requested claims are in the id_token.
    assert.strictEqual(idToken.payload["email"], "ada@example.test")
    assert.isString(tokens.refresh_token)
    assert.strictEqual(tokens.expires_in, 300)
  })

  it("code flow - PKCE is required even of the confidential client", async () => {
    const client = idp.clients[0]!
    const url = new URL(`${idp.issuer}/auth`)
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: client.redirect_uris[0]!,
      scope: "openid",
      state: "s",
    }).toString()
    const stopped = await new HeadlessBrowser().navigate(url, {
      stopAt: (u) => u.href.startsWith(client.redirect_uris[0]!),
    })
    assert.strictEqual(stopped._tag, "Stopped")
    if (stopped._tag === "Stopped")
      assert.strictEqual(stopped.url.searchParams.get("error"), "invalid_request")
  })

  it("refresh - a refresh token works without offline_access and yields a new JWT for the same audience", async () => {
    const tokens = await codeFlow(idp, { scope: "openid mcp:read mcp:write" })
    assert.isString(tokens.refresh_token, "refresh tokens do not need offline_access by default")
    const refreshed = await post(`${idp.issuer}/token`, idp.clients[0]!, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token!,
    })
    assert.strictEqual(refreshed.status, 200)
    const access = refreshed.body["access_token"] as string
    assert.notStrictEqual(access, tokens.access_token)
    assert.strictEqual(decodeJwt(access)["aud"], "urn:test:api")
    assert.strictEqual(decodeJwt(access)["scope"], "mcp:read mcp:write")
  })

  it("tokenExchange - RFC 8693: a subject token it issued to the client is exchanged; others are refused", async () => {
    const exchanging = await startLocalIdp({ audience: "urn:test:api", tokenExchange: { ttl: 90 } })
    try {
      const tokens = await codeFlow(exchanging, { scope: "openid mcp:read" })
      const client = exchanging.clients[0]!
      const request = (subject: string, extra: Record<string, string> = {}) =>
        post(`${exchanging.issuer}/token`, client, {
          grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
          subject_token: subject,
          subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
          ...extra,
        })
      const ok = await request(tokens.access_token, {
        audience: "urn:testbed:downstream",
        scope: "orders:read",
      })
      assert.strictEqual(ok.status, 200)
      assert.strictEqual(ok.body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token")
      assert.strictEqual(ok.body["expires_in"], 90)
      const jwks = createRemoteJWKSet(new URL(`${exchanging.issuer}/jwks`))
      const { payload } = await jwtVerify(ok.body["access_token"] as string, jwks, {
        issuer: exchanging.issuer,
        audience: "urn:testbed:downstream",
      })
      assert.deepStrictEqual(payload["act"], { sub: client.client_id })
      // The id_token is not an access token of this provider; another audience is not offered.
      assert.strictEqual((await request(tokens.id_token!)).body["error"], "invalid_grant")
      assert.strictEqual(
        (await request(tokens.access_token, { audience: "urn:other" })).body["error"],
        "invalid_target",
      )
      exchanging.tokenExchange!.mode = "refuse"
      assert.strictEqual((await request(tokens.access_token)).body["error"], "invalid_grant")
      exchanging.tokenExchange!.mode = "outage"
      assert.strictEqual((await request(tokens.access_token)).status, 503)
      assert.strictEqual(exchanging.tokenExchange!.requests, 5)
      assert.strictEqual(exchanging.tokenExchange!.issued.length, 1)
    } finally {
      await exchanging.close()
    }
  })

  it("revocation - a revoked refresh token is inactive and no longer refreshes", async () => {
    const client = idp.clients[0]!
    const tokens = await codeFlow(idp, { scope: "openid offline_access mcp:read" })
    const introspect = () =>
      post(`${idp.issuer}/token/introspection`, client, { token: tokens.refresh_token! })
    assert.strictEqual((await introspect()).body["active"], true)

    const revoked = await post(`${idp.issuer}/token/revocation`, client, {
      token: tokens.refresh_token!,
      token_type_hint: "refresh_token",
    })
    assert.strictEqual(revoked.status, 200)
    assert.strictEqual((await introspect()).body["active"], false)
    const refresh = await post(`${idp.issuer}/token`, client, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token!,
    })
    assert.strictEqual(refresh.status, 400)
    assert.strictEqual(refresh.body["error"], "invalid_grant")
  })

  it("revocation - JWT access tokens are self-contained: oidc-provider refuses to revoke them", async () => {
    const tokens = await codeFlow(idp, { scope: "openid mcp:read" })
    const revoked = await post(`${idp.issuer}/token/revocation`, idp.clients[0]!, {
      token: tokens.access_token,
    })
    assert.strictEqual(revoked.status, 400)
    assert.strictEqual(revoked.body["error"], "unsupported_token_type")
  })

  it("client_secret_post - the post-authenticated client gets tokens with the configured TTL", async () => {
    const tokens = await codeFlow(postIdp, { scope: "openid email" })
    assert.strictEqual(tokens.expires_in, 120)
    assert.strictEqual(decodeJwt(tokens.access_token)["aud"], "urn:oidc-proxy:upstream-api")
  })

  it("loopbackAnyPort - accepts the registered loopback redirect_uri on any port, and only with that flag", async () => {
    const relaxed = await startLocalIdp({
      client: { redirect_uris: ["http://127.0.0.1/upstream/callback"], loopbackAnyPort: true },
    })
    try {
      const tokens = await codeFlow(relaxed, {
        scope: "openid",
        redirectUri: "http://127.0.0.1:45678/upstream/callback",
      })
      assert.isString(tokens.access_token)
    } finally {
      await relaxed.close()
    }
    await codeFlow(idp, { scope: "openid", redirectUri: "http://127.0.0.1:45678/callback" }).then(
      () => assert.fail("a web client's redirect_uri must match exactly"),
      (error: Error) => assert.match(error.message, /no way forward from 400 .*redirect_uri/),
    )
  })

  it("accounts - an unlisted login gets a synthesized email; a second flow in one browser reuses the session", async () => {
    const browser = new HeadlessBrowser()
    const first = await codeFlow(idp, { scope: "openid email", login: "grace", browser })
    assert.strictEqual(decodeJwt(first.id_token!)["email"], "grace@example.test")
    const logins = browser.transcript.filter((e) => e.method === "POST").length
    const second = await codeFlow(idp, { scope: "openid email", login: "ignored", browser })
    assert.strictEqual(decodeJwt(second.id_token!).sub, "grace")
    // The session cookie and the remembered grant skip both the login and the consent page.
    assert.strictEqual(browser.transcript.filter((e) => e.method === "POST").length, logins)
  })
})

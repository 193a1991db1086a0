/**
 * Forged identity headers through the real `oidc-proxy` gateway over HTTP on 127.0.0.1: a whole
 * sign-in (DCR, authorize, consent, callback, token) through the gateway, then requests to the
 * protected resource carrying forged `X-Auth-Request-*` / `X-Forwarded-Access-Token` headers. The
 * MCP server behind the gateway must only ever see the identity of the verified token.
 */
import { TestProxy } from "@oidc-proxy/core/testing"
import { Gateway, GatewayConfig } from "@oidc-proxy/node"
import { Result } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTarget, type Target } from "./faults/flows.ts"
import { consentForm, cookieHeader, cookiesFrom, defaultRedirect, pkce, upstreamKey } from "./support.ts"

const baseUrl = "http://127.0.0.1:8080"

let mcp: Target
let gateway: Gateway.Gateway
let accessToken: string

const at = (path: string) => `${gateway.url}${path}`

/** DCR → authorize → consent → callback → token, through the gateway. */
const signIn = async () => {
  const registered = await fetch(at("/register"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [defaultRedirect], token_endpoint_auth_method: "none" }),
  })
  expect(registered.status).toBe(201)
  const { client_id } = (await registered.json()) as { client_id: string }
  const { verifier, challenge } = await pkce()
  const query = new URLSearchParams({
    client_id,
    redirect_uri: defaultRedirect,
    response_type: "code",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "s",
  })
  const page = await fetch(at(`/authorize?${query}`), { redirect: "manual" })
  expect(page.status).toBe(200)
  let jar = cookiesFrom(page.headers)
  const form = consentForm(await page.text())
  const approved = await fetch(at("/consent"), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", ...cookieHeader(jar) },
    body: new URLSearchParams({ ...form, decision: "approve" }).toString(),
  })
  expect(approved.status).toBe(302)
  jar = cookiesFrom(approved.headers, jar)
  const state = new URL(approved.headers.get("location")!).searchParams.get("state")!
  const back = await fetch(
    at(`/auth/callback?${new URLSearchParams({ state, code: "gateway-upstream-code" })}`),
    {
      redirect: "manual",
      headers: cookieHeader(jar),
    },
  )
  expect(back.status).toBe(302)
  const code = new URL(back.headers.get("location")!).searchParams.get("code")!
  const token = await fetch(at("/token"), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: defaultRedirect,
      code_verifier: verifier,
      client_id,
    }).toString(),
  })
  expect(token.status).toBe(200)
  return ((await token.json()) as { access_token: string }).access_token
}

beforeAll(async () => {
  mcp = await startTarget()
  const upstream = await upstreamKey()
  const services = TestProxy.layerFull(
    upstream,
    TestProxy.config(upstream, { issuer: baseUrl, resource: `${baseUrl}/mcp` }),
    {
      client: {
        codes: {
          "gateway-upstream-code": {
            claims: { sub: "alice", email: "alice@example.com", email_verified: true },
          },
        },
      },
    },
  )
  const config = GatewayConfig.decode({
    OIDC_PROXY_BASE_URL: baseUrl,
    OIDC_PROXY_LISTEN: "127.0.0.1:0",
    OIDC_PROXY_TARGET: mcp.url,
    OIDC_PROXY_UPSTREAM_ISSUER: upstream.issuer,
    OIDC_PROXY_UPSTREAM_CLIENT_ID: upstream.clientId,
    OIDC_PROXY_UPSTREAM_CLIENT_SECRET: "upstream-client-secret-value",
    OIDC_PROXY_SECRET: "a-master-secret-of-at-least-32-bytes!!",
    OIDC_PROXY_STORE: "memory",
    OIDC_PROXY_LOG_LEVEL: "none",
    OIDC_PROXY_SHUTDOWN_TIMEOUT: "2",
  })
  if (Result.isFailure(config)) throw new Error(String(config.failure))
  gateway = await Gateway.start(config.success, { services })
  accessToken = await signIn()
})
afterAll(async () => {
  await gateway?.shutdown()
  await mcp?.close()
})

const forged = {
  "x-auth-request-user": "mallory",
  "X-Auth-Request-Email": "mallory@evil.example",
  "X-AUTH-REQUEST-SCOPES": "admin openid",
  "x-auth-request-client-id": "trusted-client",
  "x-auth-request-groups": "admins",
  "x-auth-request-preferred-username": "root",
  "x-forwarded-access-token": "forged-upstream-token",
}

describe("gateway - forged identity headers", () => {
  it("with a valid token - the MCP server sees the verified identity only, never the forgeries", async () => {
    const headers = new Headers({ ...forged, authorization: `Bearer ${accessToken}` })
    headers.append("x-auth-request-user", "eve") // a repeated forgery
    headers.set("connection", "keep-alive, x-auth-request-email") // hop-by-hop listing of an identity header
    const before = mcp.hits()
    const res = await fetch(at("/mcp"), { method: "POST", headers, body: "{}" })
    expect(res.status).toBe(200)
    expect(mcp.hits()).toBe(before + 1)
    const seen = mcp.seen.at(-1)!.headers
    expect(seen["x-auth-request-user"]).toBe("alice")
    expect(seen["x-auth-request-email"]).toBe("alice@example.com")
    expect(seen["x-auth-request-scopes"]).not.toContain("admin")
    expect(seen["x-auth-request-client-id"]).not.toBe("trusted-client")
    expect(seen["x-auth-request-groups"]).toBeUndefined()
    expect(seen["x-auth-request-preferred-username"]).toBeUndefined()
    expect(seen["x-forwarded-access-token"]).toBeUndefined()
    expect(seen.authorization).toBeUndefined()
    expect(JSON.stringify(seen)).not.toMatch(/mallory|eve|admins|forged/)
  })

  it("without a token, or with a bad one - 401 and nothing reaches the MCP server", async () => {
    const before = mcp.hits()
    for (const authorization of [
      undefined,
      "Bearer forged.token.value",
      `Bearer ${accessToken}x`,
      "Basic YTpi",
    ]) {
      const res = await fetch(at("/mcp/tools"), {
        method: "POST",
        headers: { ...forged, ...(authorization === undefined ? {} : { authorization }) },
        body: "{}",
      })
      expect(res.status, authorization).toBe(401)
      expect(await res.text()).not.toContain("mallory")
    }
    expect(mcp.hits()).toBe(before)
  })

  it("on the proxy's own endpoints - forged headers change nothing and are never forwarded", async () => {
    const before = mcp.hits()
    for (const path of [
      "/token",
      "/register",
      "/revoke",
      "/authorize",
      "/.well-known/oauth-authorization-server",
    ]) {
      const res = await fetch(at(path), {
        method: path.includes("well-known") || path === "/authorize" ? "GET" : "POST",
        headers: forged,
        redirect: "manual",
      })
      expect(res.status, path).toBeLessThan(500)
      expect(await res.text()).not.toContain("mallory")
    }
    expect(mcp.hits()).toBe(before)
  })
})

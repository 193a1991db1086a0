/**
 * The identity a target sees, through the real gateway (`Gateway.start`, HTTP on 127.0.0.1) in
 * front of a real WSGI server (Python's `wsgiref` as a child process, which folds header names as
 * CGI, PHP and nginx with `underscores_in_headers` do), against the fake IdP issuing id_tokens
 * (`OIDC_PROXY_VERIFY_ID_TOKEN=true`) with hostile identity claims:
 * - caller headers spelled with `_` for `-` never reach the target as the gateway's identity
 *   (`X-Auth-Request-*` and the `X-Forwarded-User`/`-Email`/`-Groups`/… family);
 * - `X-Auth-Request-Email` only when the id_token says `email_verified: true`, unless the operator
 *   opts in (`OIDC_PROXY_TRUST_UNVERIFIED_EMAIL=true`);
 * - a subject or email outside visible ASCII arrives percent-encoded, never as a 502 or a split
 *   header.
 * Each bearer is sent twice: the first request takes the general (Fetch) path, the second, once the
 * bearer is remembered, the Node fast path.
 */
import type { Gateway } from "@oidc-proxy/node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { gatewayEnv, signIn, startGateway } from "./flows.ts"
import { freePort } from "./processes.ts"
import { pythonAvailable as python, startWsgi, type Wsgi } from "./wsgi.ts"

if (!python) console.warn("python3 not found: the WSGI identity-header tests are skipped")

let idp: FakeIdp
let wsgi: Wsgi
/** Default gateway, and one with `OIDC_PROXY_TRUST_UNVERIFIED_EMAIL=true`. */
let strict: Gateway.Gateway
let trusting: Gateway.Gateway

const gatewayWith = async (extra: Record<string, string>) => {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  return startGateway(
    gatewayEnv(baseUrl, wsgi.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_VERIFY_ID_TOKEN: "true",
      ...extra,
    }),
  )
}

beforeAll(async () => {
  if (!python) return
  idp = await startFakeIdp()
  idp.idTokens = true
  wsgi = await startWsgi()
  strict = await gatewayWith({})
  trusting = await gatewayWith({ OIDC_PROXY_TRUST_UNVERIFIED_EMAIL: "true" })
})

afterAll(async () => {
  await Promise.all([strict?.shutdown(), trusting?.shutdown()])
  await wsgi?.stop()
  await idp?.close()
})

/** Signs in as `subject` with `claims`, then GETs `/mcp` twice; the WSGI environ of each request. */
const environs = async (
  gateway: Gateway.Gateway,
  subject: string,
  claims: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Array<Record<string, string>>> => {
  idp.subject = subject
  idp.claims = claims
  const tokens = await signIn(gateway.url, idp)
  const seen: Array<Record<string, string>> = []
  for (let i = 0; i < 2; i++) {
    const res = await fetch(`${gateway.url}/mcp`, {
      headers: { ...headers, authorization: `Bearer ${tokens.access_token}` },
    })
    const text = await res.text()
    expect(res.status, text).toBe(200)
    seen.push(JSON.parse(text) as Record<string, string>)
  }
  return seen
}

const verified = { email: "ada@example.com", email_verified: true }

describe.skipIf(!python)("gateway → WSGI target - identity headers", () => {
  it("finding 1 - caller headers folding to an identity name (any case, `_` for `-`) never reach the target", async () => {
    const forged = {
      X_Auth_Request_User: "mallory",
      X_Auth_Request_Groups: "admins",
      "X-Auth-Request_Preferred_Username": "root",
      X_AUTH_REQUEST_EMAIL: "mallory@evil.example",
      "x-auth_request-scopes": "admin",
      X_Forwarded_User: "mallory",
      "X-Forwarded-Email": "mallory@evil.example",
      x_forwarded_groups: "admins",
      X_Forwarded_Preferred_Username: "root",
      X_Forwarded_Access_Token: "forged-upstream-token",
      // Not an identity name: passes through, so the target does see underscore spellings.
      X_Trace_Tag: "kept",
    }
    for (const env of await environs(strict, "ada", verified, forged)) {
      expect(env["HTTP_X_AUTH_REQUEST_USER"]).toBe("ada")
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBe("ada@example.com")
      expect(env["HTTP_X_AUTH_REQUEST_SCOPES"]).not.toContain("admin")
      expect(env["HTTP_X_TRACE_TAG"]).toBe("kept")
      for (const name of [
        "HTTP_X_AUTH_REQUEST_GROUPS",
        "HTTP_X_AUTH_REQUEST_PREFERRED_USERNAME",
        "HTTP_X_FORWARDED_USER",
        "HTTP_X_FORWARDED_EMAIL",
        "HTTP_X_FORWARDED_GROUPS",
        "HTTP_X_FORWARDED_PREFERRED_USERNAME",
        "HTTP_X_FORWARDED_ACCESS_TOKEN",
      ])
        expect(env[name], name).toBeUndefined()
      expect(JSON.stringify(env)).not.toMatch(/mallory|admins|root|forged/)
    }
  }, 30_000)

  it("finding 5 - X-Auth-Request-Email only when the id_token says email_verified: true (the boolean)", async () => {
    const ceo = "ceo@victim-corp.example"
    for (const env of await environs(strict, "mallory", { email: ceo, email_verified: false }))
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
    for (const env of await environs(strict, "mallory", { email: ceo }))
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
    // The string "true" counts for neither the MCP policy nor the access rules, so not here either.
    for (const env of await environs(strict, "ada", { email: "ada@example.com", email_verified: "true" }))
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
    for (const env of await environs(strict, "ada", verified))
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBe("ada@example.com")
  }, 30_000)

  it("finding 5 - with OIDC_PROXY_TRUST_UNVERIFIED_EMAIL=true the unverified email is sent", async () => {
    for (const env of await environs(trusting, "bob", { email: "bob@example.com", email_verified: false }))
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBe("bob@example.com")
  }, 30_000)

  it("finding 8 - a subject and email outside visible ASCII arrive percent-encoded UTF-8: no 502, no split header", async () => {
    const unicode = "ünïcødé😀"
    for (const env of await environs(strict, unicode, {
      email: `${unicode}@example.com`,
      email_verified: true,
    })) {
      expect(env["HTTP_X_AUTH_REQUEST_USER"]).toBe("%C3%BCn%C3%AFc%C3%B8d%C3%A9%F0%9F%98%80")
      expect(decodeURIComponent(env["HTTP_X_AUTH_REQUEST_USER"]!)).toBe(unicode)
      expect(decodeURIComponent(env["HTTP_X_AUTH_REQUEST_EMAIL"]!)).toBe(`${unicode}@example.com`)
    }
    const injected = "a\r\nX-Auth-Request-Groups: admins"
    for (const env of await environs(strict, injected, {
      email: "a\r\nb@example.com",
      email_verified: true,
    })) {
      expect(env["HTTP_X_AUTH_REQUEST_USER"]).toBe("a%0D%0AX-Auth-Request-Groups%3A%20admins")
      expect(decodeURIComponent(env["HTTP_X_AUTH_REQUEST_USER"]!)).toBe(injected)
      // Not an email at all (a control character), so not sent as one, even verified.
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
      expect(env["HTTP_X_AUTH_REQUEST_GROUPS"]).toBeUndefined()
    }
    // A plain subject that merely contains `%` is encoded too, so it cannot pose as an encoded one.
    for (const env of await environs(strict, "%C3%BC", verified))
      expect(env["HTTP_X_AUTH_REQUEST_USER"]).toBe("%25C3%25BC")
  }, 60_000)
})

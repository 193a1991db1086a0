/**
 * Attacks on the browser legs — `/authorize`, the consent form and the upstream callback — over
 * the real fetch handler. Each test is one attack: the status, the OAuth error code, and that the
 * store did not change.
 */
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertLogsClean,
  authorizeQuery,
  type Client,
  cookieHeader,
  defaultRedirect,
  expectErrorPage,
  formRequest,
  getRequest,
  issuer,
  makeProxy,
  type ProxyUnderTest,
  pkce,
  register,
  signIn,
  toConsent,
  toUpstream,
  withoutStateChange,
} from "./support.ts"

let p: ProxyUnderTest
let client: Client
beforeAll(async () => {
  p = await makeProxy()
  client = await register(p)
})
afterAll(async () => {
  assertLogsClean(p)
  await p.dispose()
})

/** `/authorize` with the client's valid parameters and `overrides`. */
const authorize = async (
  overrides: Record<string, string | undefined>,
  headers: Record<string, string> = {},
) => {
  const { challenge } = await pkce()
  return p.send(getRequest("/authorize", authorizeQuery(client, challenge, overrides), headers))
}

/** The error redirect of a trusted redirect URI: registered target, `error`, `state`, `iss`. */
describe("attacks on /authorize", () => {
  it("redirect_uri not registered - error page, no redirect, nothing stored", async () => {
    const res = await withoutStateChange(p, () =>
      authorize({ redirect_uri: "https://evil.example/callback" }),
    )
    expectErrorPage(res, 400, "invalid_request")
  })

  it("redirect_uri with an extra path segment - error page, nothing stored", async () => {
    const res = await withoutStateChange(p, () => authorize({ redirect_uri: `${defaultRedirect}/extra` }))
    expectErrorPage(res, 400, "invalid_request")
  })

  it("redirect_uri with userinfo - error page, nothing stored", async () => {
    const res = await withoutStateChange(p, () =>
      authorize({ redirect_uri: "https://app.example@evil.example/callback" }),
    )
    expectErrorPage(res, 400, "invalid_request")
    const loopback = await register(p, { redirect_uris: ["http://127.0.0.1/cb"] })
    const { challenge } = await pkce()
    const res2 = await withoutStateChange(p, () =>
      p.send(
        getRequest(
          "/authorize",
          authorizeQuery(loopback, challenge, { redirect_uri: "http://evil@127.0.0.1:8080/cb" }),
        ),
      ),
    )
    expectErrorPage(res2, 400, "invalid_request")
  })

  it("redirect_uri with `..` segments - error page, nothing stored", async () => {
    for (const uri of [
      "https://app.example/callback/../callback",
      "https://app.example/x/../callback",
      "https://app.example/callback/%2e%2e/evil",
    ]) {
      const res = await withoutStateChange(p, () => authorize({ redirect_uri: uri }))
      expectErrorPage(res, 400, "invalid_request")
    }
  })

  it("redirect_uri `javascript:` - error page, nothing stored", async () => {
    const res = await withoutStateChange(p, () =>
      authorize({ redirect_uri: "javascript:alert(document.cookie)" }),
    )
    expectErrorPage(res, 400, "invalid_request")
    expect(res.text).not.toContain("javascript:alert")
  })

  it("open redirect through an error path - only registered URIs are ever redirected to", async () => {
    const evil = "https://evil.example/steal"
    // An unknown client with an attacker's redirect URI and an error in the request.
    const unknown = await withoutStateChange(p, () =>
      p.send(
        getRequest("/authorize", { client_id: "no-such-client", redirect_uri: evil, response_type: "token" }),
      ),
    )
    expectErrorPage(unknown, 400, "invalid_request")
    // A known client, an attacker's redirect URI, and an error that would otherwise redirect.
    for (const overrides of [
      { response_type: "token" },
      { code_challenge: undefined },
      { scope: "x".repeat(5000) },
      { resource: "https://other.example" },
    ]) {
      const res = await withoutStateChange(p, () => authorize({ redirect_uri: evil, ...overrides }))
      expectErrorPage(res, 400, "invalid_request")
    }
    // The same error with the registered URI is not redirected either: the user has not approved
    // the client, and anyone can register a redirect URI (RFC 9700 §4.11.2, issue 20 finding 11).
    const registered = await withoutStateChange(p, () => authorize({ response_type: "token" }))
    expectErrorPage(registered, 400, "unsupported_response_type")
    // A missing client_id, or a repeated redirect_uri, never redirects either.
    expectErrorPage(await p.send(getRequest("/authorize", { redirect_uri: evil })), 400, "invalid_request")
    const repeated = await withoutStateChange(p, () =>
      p.send(
        new Request(
          `${issuer}/authorize?client_id=${client.client_id}&redirect_uri=${encodeURIComponent(defaultRedirect)}&redirect_uri=${encodeURIComponent(evil)}`,
        ),
      ),
    )
    expectErrorPage(repeated, 400, "invalid_request")
  })

  it("a registered attacker redirect and an error before consent - 400 error page, no Location (issue 20, finding 11)", async () => {
    const phish = "https://evil.example/phish"
    const res = await p.send(
      new Request(`${issuer}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [phish], token_endpoint_auth_method: "none" }),
      }),
    )
    expect(res.status, res.text).toBe(201)
    const clientId = res.json?.["client_id"] as string
    const page = await withoutStateChange(p, () =>
      p.send(getRequest("/authorize", { client_id: clientId, redirect_uri: phish })),
    )
    expectErrorPage(page, 400, "unsupported_response_type")
    expect(page.text).not.toContain("evil.example")
  })

  it("a request for another resource (RFC 8707) - error page invalid_target, nothing stored", async () => {
    const res = await withoutStateChange(p, () => authorize({ resource: "https://other.example/mcp" }))
    expectErrorPage(res, 400, "invalid_target")
  })

  it("missing PKCE - error page invalid_request, nothing stored", async () => {
    const res = await withoutStateChange(p, () =>
      authorize({ code_challenge: undefined, code_challenge_method: undefined }),
    )
    expectErrorPage(res, 400, "invalid_request")
  })

  it("`plain` PKCE - error page invalid_request, nothing stored", async () => {
    const res = await withoutStateChange(p, () =>
      authorize({ code_challenge: "a".repeat(43), code_challenge_method: "plain" }),
    )
    expectErrorPage(res, 400, "invalid_request")
    const implicit = await withoutStateChange(p, () => authorize({ code_challenge_method: undefined }))
    expectErrorPage(implicit, 400, "invalid_request")
  })
})

describe("attacks on the consent form", () => {
  it("CSRF on the consent POST - 403 access_denied, the transaction is untouched", async () => {
    const at = await toConsent(p, client)
    for (const csrf of [undefined, "", "forged", `${at.csrf}x`, at.csrf.slice(0, -1)]) {
      const res = await withoutStateChange(p, () =>
        p.send(
          formRequest(
            "/consent",
            { transaction: at.transaction, csrf, decision: "approve" },
            cookieHeader(at.jar),
          ),
        ),
      )
      expectErrorPage(res, 403, "access_denied")
    }
    // A cross-site POST carries no SameSite=Lax binding cookie: refused even with the right CSRF token.
    const crossSite = await withoutStateChange(p, () =>
      p.send(formRequest("/consent", { transaction: at.transaction, csrf: at.csrf, decision: "approve" })),
    )
    expectErrorPage(crossSite, 403, "access_denied")
  })

  it("the consent page inside a frame - DENY and frame-ancestors 'none', every time", async () => {
    const { challenge } = await pkce()
    const res = await p.send(
      getRequest("/authorize", authorizeQuery(client, challenge), {
        "sec-fetch-dest": "iframe",
        referer: "https://evil.example/framer",
      }),
    )
    expect(res.status).toBe(200)
    expect(res.headers.get("x-frame-options")).toBe("DENY")
    const csp = res.headers.get("content-security-policy") ?? ""
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).toContain("default-src 'none'")
    expect(res.headers.get("cache-control")).toBe("no-store")
    const cookies = res.headers.getSetCookie()
    expect(cookies.length).toBeGreaterThan(0)
    for (const c of cookies) expect(c).toMatch(/HttpOnly; SameSite=Lax; Secure/)
    // The error page is not frameable either.
    const error = await authorize({ redirect_uri: "https://evil.example/cb" })
    expect(error.headers.get("x-frame-options")).toBe("DENY")
    expect(error.headers.get("content-security-policy")).toContain("frame-ancestors 'none'")
  })

  it("a hostile client name is escaped on the consent page", async () => {
    const hostile = await register(p, {
      client_name: `<script>alert(1)</script>"><img src=x onerror=alert(2)>`,
    })
    const at = await toConsent(p, hostile)
    expect(at.page.text).not.toContain("<script>alert")
    expect(at.page.text).not.toContain("<img")
    expect(at.page.text).toContain("&#60;script&#62;")
  })
})

describe("attacks on the upstream callback", () => {
  it("transaction replay at the callback - error page, nothing changes", async () => {
    const signed = await signIn(p, client)
    const control = await p.upstream()
    await Effect.runPromise(control.setCode("replayed-upstream-code"))
    const res = await withoutStateChange(p, () =>
      p.send(
        getRequest(
          "/auth/callback",
          { state: signed.state, code: "replayed-upstream-code" },
          cookieHeader(signed.jar),
        ),
      ),
    )
    expectErrorPage(res, 400, "invalid_request")
  })

  it("callback without the consent-binding cookie (confused deputy) - 403, the transaction survives", async () => {
    // The attacker approves a sign-in in their browser and lures the victim to the callback URL.
    const at = await toUpstream(p, client)
    const res = await withoutStateChange(p, () =>
      p.send(getRequest("/auth/callback", { state: at.state, code: "victim-upstream-code" })),
    )
    expectErrorPage(res, 403, "access_denied")
    const forged = await withoutStateChange(p, () =>
      p.send(
        getRequest(
          "/auth/callback",
          { state: at.state, code: "victim-upstream-code" },
          cookieHeader(Object.fromEntries(Object.keys(at.jar).map((k) => [k, "forged-binding-value"]))),
        ),
      ),
    )
    expectErrorPage(forged, 403, "access_denied")
    const exchanges = await Effect.runPromise((await p.upstream()).exchanges)
    expect(exchanges.map((e) => e.code)).not.toContain("victim-upstream-code")
    // The attacker's transaction is still bound to the attacker's browser only.
    await Effect.runPromise((await p.upstream()).setCode("attacker-upstream-code"))
    const own = await p.send(
      getRequest("/auth/callback", { state: at.state, code: "attacker-upstream-code" }, cookieHeader(at.jar)),
    )
    expect(own.status).toBe(302)
    expect(new URL(own.headers.get("location")!).searchParams.get("code")).not.toBeNull()
  })

  it("callback for a transaction that was never approved - 403 access_denied, nothing changes", async () => {
    const at = await toConsent(p, client)
    const res = await withoutStateChange(p, () =>
      p.send(getRequest("/auth/callback", { state: at.transaction, code: "c" }, cookieHeader(at.jar))),
    )
    expectErrorPage(res, 403, "access_denied")
  })
})

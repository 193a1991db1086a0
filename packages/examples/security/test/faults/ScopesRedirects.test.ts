/**
 * Hostile clients against the real gateway (`Gateway.start`, HTTP on 127.0.0.1) with
 * `OIDC_PROXY_SCOPES_SUPPORTED="openid admin"` and `OIDC_PROXY_CONSENT=remember`:
 * - no `/authorize` error, whatever is wrong with the request, answers with a Location;
 * - the consent page's deny, and an IdP error with a hostile description, reach the client's
 *   registered redirect only after consent, with `state` and `iss`, the description not echoed;
 * - a remembered consent does not cover a larger scope (the page is shown again), a refresh cannot
 *   widen the scope, and a scope outside the client's registration is refused.
 */
import type { Gateway } from "@oidc-proxy/node"
import { HeadlessBrowser } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  authorizeQuery,
  clientRedirect,
  gatewayEnv,
  postToken,
  register,
  startGateway,
  startTarget,
  type Target,
} from "./flows.ts"
import { freePort } from "./processes.ts"

let idp: FakeIdp
let target: Target
let gateway: Gateway.Gateway
let url: string

beforeAll(async () => {
  idp = await startFakeIdp()
  target = await startTarget()
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  gateway = await startGateway(
    gatewayEnv(url, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_SCOPES_SUPPORTED: "openid admin",
      OIDC_PROXY_CONSENT: "remember",
    }),
  )
}, 30_000)

afterAll(async () => {
  await gateway?.shutdown()
  await target?.close()
  await idp?.close()
})

const registerWith = async (metadata: Record<string, unknown>) =>
  (await register(url, "none", metadata)).client_id

const atClient = (u: URL) => u.href.startsWith(clientRedirect)

describe("no Location from any /authorize error", () => {
  it("bad client, redirect, scope, PKCE, response_type, duplicates - 400 page; ignored parameters - no redirect", async () => {
    const client_id = await registerWith({ scope: "openid" })
    const { query } = await authorizeQuery(client_id)
    const variants: Array<string> = []
    const w = (edit: (q: URLSearchParams) => void) => {
      const q = new URLSearchParams(query)
      edit(q)
      variants.push(q.toString())
    }
    w((q) => q.set("client_id", "no-such-client"))
    w((q) => q.set("redirect_uri", "https://evil.example/phish"))
    w((q) => q.set("scope", "openid admin"))
    w((q) => q.set("scope", "openid\u00a0admin"))
    w((q) => q.set("scope", "openid\tadmin"))
    w((q) => q.set("scope", "ｏpenid"))
    w((q) => q.delete("code_challenge"))
    w((q) => q.set("code_challenge_method", "plain"))
    w((q) => q.set("response_type", "token"))
    w((q) => q.append("redirect_uri", "https://evil.example/phish"))
    w((q) => q.append("state", "second"))
    w((q) => q.append("client_id", client_id))
    for (const v of variants) {
      const res = await fetch(`${url}/authorize?${v}`, { redirect: "manual" })
      const body = await res.text()
      expect(res.headers.get("location"), v).toBeNull()
      expect(res.status, `${v}: ${body.slice(0, 200)}`).toBe(400)
    }
    // Parameters the gateway does not support are ignored (RFC 6749 §3.1): the consent page, built
    // from the query's registered redirect, never a redirect to what they name.
    const ignored: Array<string> = []
    const i = (edit: (q: URLSearchParams) => void) => {
      const q = new URLSearchParams(query)
      edit(q)
      ignored.push(q.toString())
    }
    i((q) => q.set("response_mode", "fragment"))
    i((q) => q.set("request", "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwuZXhhbXBsZSJ9."))
    i((q) => q.set("request_uri", "https://evil.example/req.jwt"))
    for (const v of ignored) {
      const res = await fetch(`${url}/authorize?${v}`, { redirect: "manual" })
      const body = await res.text()
      expect(res.headers.get("location"), v).toBeNull()
      expect([200, 400], v).toContain(res.status)
      expect(body, v).not.toContain("evil.example")
    }
  })
})

describe("errors after consent", () => {
  it("deny on the consent page - access_denied at the registered redirect, with state and iss", async () => {
    const client_id = await registerWith({})
    const { query } = await authorizeQuery(client_id)
    const back = await new HeadlessBrowser.HeadlessBrowser().drive(`${url}/authorize?${query}`, {
      stopAt: atClient,
      onPage: HeadlessBrowser.pressButton("decision", "deny"),
    })
    expect(back.searchParams.get("error")).toBe("access_denied")
    expect(back.searchParams.get("state")).toBe("client-state")
    expect(back.searchParams.get("iss")).toBe(url)
    expect(back.searchParams.get("code")).toBeNull()
  })

  it("an IdP error with a CRLF/HTML description - forwarded code only, description not echoed", async () => {
    const client_id = await registerWith({})
    const { query } = await authorizeQuery(client_id)
    const browser = new HeadlessBrowser.HeadlessBrowser()
    const atIdp = await browser.drive(`${url}/authorize?${query}`, {
      stopAt: (u) => u.href.startsWith(`${idp.issuer}/authorize`),
      onPage: HeadlessBrowser.pressButton("decision", "approve"),
    })
    const callback = new URL(atIdp.searchParams.get("redirect_uri")!)
    const hostile = "x\r\nSet-Cookie: a=b\r\n\r\n<script>alert(1)</script>"
    callback.search = new URLSearchParams({
      state: atIdp.searchParams.get("state")!,
      iss: idp.issuer,
      error: `access_denied\r\nLocation: https://evil.example`,
      error_description: hostile,
    }).toString()
    const done = await browser.navigate(callback, { stopAt: atClient })
    expect(done._tag).toBe("Stopped")
    const back = (done as { url: URL }).url
    expect(back.searchParams.get("error")).toBe("server_error")
    expect(back.searchParams.get("iss")).toBe(url)
    expect(back.searchParams.get("state")).toBe("client-state")
    // The IdP's description is never forwarded; its error code only with [\w.-] kept.
    expect(back.href).not.toMatch(/<script|Set-Cookie|%0D|%0A|%3C|%3A%2F%2Fevil/i)
    expect(back.searchParams.get("error_description")).toMatch(/^[\w .-]*$/)
  })
})

describe("scopes beyond consent", () => {
  /** Approves once for `scope`; returns the code's token response. */
  const signInFor = async (browser: HeadlessBrowser.HeadlessBrowser, client_id: string, scope: string) => {
    const { verifier, query } = await authorizeQuery(client_id, { scope })
    let pages = 0
    const approve = HeadlessBrowser.pressButton("decision", "approve")
    const back = await browser.drive(`${url}/authorize?${query}`, {
      stopAt: atClient,
      onPage: (page) => {
        if (page.url.href.startsWith(url)) pages++
        return approve(page)
      },
    })
    const token = await postToken(url, {
      grant_type: "authorization_code",
      code: back.searchParams.get("code")!,
      redirect_uri: clientRedirect,
      code_verifier: verifier,
      client_id,
    })
    expect(token.status, token.text).toBe(200)
    return { pages, body: token.body }
  }

  it("a remembered consent is not extended to a larger scope; refresh cannot widen it", async () => {
    const client_id = await registerWith({})
    const browser = new HeadlessBrowser.HeadlessBrowser()
    const first = await signInFor(browser, client_id, "openid")
    expect(first.pages).toBe(1)
    expect(first.body["scope"]).toBe("openid")
    expect((await signInFor(browser, client_id, "openid")).pages, "remembered: no page").toBe(0)
    const wider = await signInFor(browser, client_id, "openid admin")
    expect(wider.pages, "a larger scope shows the consent page again").toBe(1)
    const widened = await postToken(url, {
      grant_type: "refresh_token",
      refresh_token: first.body["refresh_token"] as string,
      client_id,
      scope: "openid admin",
    })
    expect(widened.status).toBe(400)
    expect(widened.body["error"]).toBe("invalid_scope")
    const spaced = await postToken(url, {
      grant_type: "refresh_token",
      refresh_token: first.body["refresh_token"] as string,
      client_id,
      scope: " openid  openid offline_access",
    })
    expect(spaced.status, spaced.text).toBe(400)
  })
})

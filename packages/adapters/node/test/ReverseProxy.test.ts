/**
 * Tests of the reverse proxy over real HTTP on 127.0.0.1: header scrubbing and identity headers,
 * streaming both ways (SSE, request bodies), path mapping, unreachable target -> 502.
 *
 * @since 0.1.0
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import * as NodeServer from "../src/NodeServer.ts"
import * as ReverseProxy from "../src/ReverseProxy.ts"
import { type FakeTarget, fakeTarget, fakeToken } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

/** A proxy listener on 127.0.0.1 forwarding every request, as if authorized, to `target`. */
const proxyTo = async (target: string, options: Partial<ReverseProxy.Options> = {}) => {
  const forward = ReverseProxy.make({ target: new URL(`${target}/mcp`), resourcePath: "/mcp", ...options })
  const token = fakeToken()
  const listening = await NodeServer.listen((request) => forward(request, token), {
    host: "127.0.0.1",
    port: 0,
  })
  closers.push(listening.close)
  return listening.url
}

const target = async (...args: Parameters<typeof fakeTarget>): Promise<FakeTarget> => {
  const t = await fakeTarget(...args)
  closers.push(t.close)
  return t
}

/** Resolves when `check` holds, polling; rejects after `ms`. */
const eventually = async (check: () => boolean, ms = 5_000) => {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time")
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe("ReverseProxy", () => {
  it("targetUrl - maps the resource path prefix onto the target path, keeping the query", () => {
    const options = { target: new URL("http://127.0.0.1:9000/api/mcp"), resourcePath: "/mcp" }
    const map = (path: string) => ReverseProxy.targetUrl(new URL(path, "http://proxy.test"), options).href
    assert.strictEqual(map("/mcp"), "http://127.0.0.1:9000/api/mcp")
    assert.strictEqual(map("/mcp/"), "http://127.0.0.1:9000/api/mcp/")
    assert.strictEqual(map("/mcp/sse?x=1"), "http://127.0.0.1:9000/api/mcp/sse?x=1")
    const root = { target: new URL("http://127.0.0.1:9000/"), resourcePath: "/" }
    assert.strictEqual(
      ReverseProxy.targetUrl(new URL("http://proxy.test/a/b"), root).href,
      "http://127.0.0.1:9000/a/b",
    )
  })

  it("forwardHeaders - strips Authorization, hop-by-hop and forged identity headers; adds the identity", () => {
    const incoming = new Headers({
      authorization: "Bearer proxy-token",
      connection: "keep-alive, x-drop-me",
      "x-drop-me": "1",
      "keep-alive": "timeout=5",
      "proxy-authorization": "Basic Zm9v",
      "x-auth-request-user": "admin",
      "X-Auth-Request-Email": "admin@evil.example",
      "x-auth-request-groups": "root",
      "x-forwarded-access-token": "forged",
      "mcp-session-id": "s-1",
      "content-type": "application/json",
    })
    const headers = ReverseProxy.forwardHeaders(incoming, fakeToken())
    assert.deepStrictEqual(Object.fromEntries(headers), {
      "accept-encoding": "identity",
      "content-type": "application/json",
      "mcp-session-id": "s-1",
      "x-auth-request-client-id": "client-1",
      "x-auth-request-email": "user@example.com",
      "x-auth-request-scopes": "openid mcp:tools",
      "x-auth-request-user": "user-1",
    })
  })

  it("forwardHeaders - no email header when the claim is not a string", () => {
    const token = fakeToken({ claims: { iss: "https://idp.test", sub: "user-1", email: ["a@b"] } })
    const headers = ReverseProxy.forwardHeaders(new Headers({ "x-auth-request-email": "forged" }), token)
    assert.isFalse(headers.has("x-auth-request-email"))
  })

  it("forwardHeaders - drops every caller header that folds to a reserved identity name", () => {
    // What CGI, WSGI, PHP and nginx (underscores_in_headers) read as the gateway's identity.
    const forged = [
      "X_Auth_Request_User",
      "x_auth_request_groups",
      "X-Auth-Request_Preferred_Username",
      "x-auth_request-email",
      "X_FORWARDED_ACCESS_TOKEN",
      "x-forwarded-user",
      "X_Forwarded_Email",
      "x-forwarded-preferred-username",
      "x_forwarded_groups",
      // PHP (`.` to `_`), older Apache CGI (any non-alphanumeric to `_`), several separators.
      "X.Auth.Request.User",
      "x~forwarded~user",
      "X__Auth__Request__Groups",
      "X-Forwarded-Email_",
      "_x-forwarded-access.token",
    ]
    const incoming: ReverseProxy.HeaderRecord = Object.fromEntries([
      ...forged.map((name) => [name.toLowerCase(), "mallory"]),
      ["x-forwarded-for", "192.0.2.1"],
      ["x_request_id", "kept"],
    ])
    const headers = ReverseProxy.forwardHeaderRecord(incoming, fakeToken())
    assert.deepStrictEqual(headers, {
      "x-forwarded-for": "192.0.2.1",
      x_request_id: "kept",
      "accept-encoding": "identity",
      "x-auth-request-user": "user-1",
      "x-auth-request-email": "user@example.com",
      "x-auth-request-scopes": "openid mcp:tools",
      "x-auth-request-client-id": "client-1",
    })
    for (const name of forged) assert.isTrue(ReverseProxy.isReservedIdentityName(name), name)
    for (const name of [
      "x-forwarded-for",
      "x-forwarded-host",
      "x-auth-requests",
      "x_request_id",
      "x.forwarded.for",
      "authx-auth-request-user",
    ])
      assert.isFalse(ReverseProxy.isReservedIdentityName(name), name)
  })

  it("forwardHeaders - the email only when the claims say it is verified (the boolean), unless trusted", () => {
    const email = (claims: Record<string, unknown>, trustUnverifiedEmail = false) =>
      ReverseProxy.forwardHeaders(
        new Headers(),
        fakeToken({ claims: { iss: "https://idp.test", email: "ceo@victim.example", ...claims } }),
        { trustUnverifiedEmail },
      ).get("x-auth-request-email")
    assert.strictEqual(email({ email_verified: true }), "ceo@victim.example")
    // The string "true" is not `true`: the MCP policy and the access rules refuse it too.
    for (const unverified of [false, "true", "false", "TRUE", 1, null, undefined])
      assert.isNull(email({ email_verified: unverified }), String(unverified))
    assert.isNull(email({}))
    assert.strictEqual(email({ email_verified: false }, true), "ceo@victim.example")
  })

  it("identityValue - visible ASCII without % as is; anything else percent-encoded UTF-8, reversibly", () => {
    assert.strictEqual(ReverseProxy.identityValue("alice@example.com"), "alice@example.com")
    assert.strictEqual(ReverseProxy.identityValue("a\r\nb"), "a%0D%0Ab")
    assert.strictEqual(ReverseProxy.identityValue("a b"), "a%20b")
    assert.strictEqual(ReverseProxy.identityValue("100%"), "100%25")
    assert.strictEqual(ReverseProxy.identityValue("ü😀"), "%C3%BC%F0%9F%98%80")
    // A lone surrogate: its own bytes (no collision with U+FFFD), which UTF-8 decoding refuses.
    assert.strictEqual(ReverseProxy.identityValue("a\uD800"), "a%ED%A0%80")
    assert.notStrictEqual(ReverseProxy.identityValue("\uFFFD"), ReverseProxy.identityValue("\uD800"))
    for (const value of ["ünïcødé😀", "a\r\nb", "%41", "tab\there", "\u0000", "ÿ", " lead"]) {
      const sent = ReverseProxy.identityValue(value)
      assert.match(sent, /^[\x21-\x7e]+$/)
      assert.strictEqual(decodeURIComponent(sent), value)
    }
  })

  it("forwardHeaders - the upstream access token only when given", () => {
    assert.isFalse(ReverseProxy.forwardHeaders(new Headers(), fakeToken()).has("x-forwarded-access-token"))
    assert.strictEqual(
      ReverseProxy.forwardHeaders(new Headers(), fakeToken(), { downstreamToken: "upstream-at" }).get(
        "x-forwarded-access-token",
      ),
      "upstream-at",
    )
  })

  it("make - downstreamHeader authorization: the target's Authorization carries the downstream token, never the caller's", async () => {
    const t = await target()
    const url = await proxyTo(t.url, {
      downstreamToken: async () => "exchanged-at",
      downstreamHeader: "authorization",
    })
    await (
      await fetch(`${url}/mcp`, {
        headers: { authorization: "Bearer proxy-token", "x-forwarded-access-token": "forged" },
      })
    ).text()
    assert.strictEqual(t.seen[0]!.headers["authorization"], "Bearer exchanged-at")
    assert.isUndefined(t.seen[0]!.headers["x-forwarded-access-token"])
  })

  it("make - a downstream token that cannot be obtained is answered; the target never sees the request", async () => {
    const t = await target()
    const url = await proxyTo(t.url, {
      downstreamToken: async () => new Response("{}", { status: 503, headers: { "retry-after": "5" } }),
    })
    const response = await fetch(`${url}/mcp`, { method: "POST", body: "{}" })
    await response.text()
    assert.strictEqual(response.status, 503)
    assert.strictEqual(t.seen.length, 0)
  })

  it("make - over HTTP: the target sees the identity and never the caller's credentials or forgeries", async () => {
    const t = await target()
    const url = await proxyTo(t.url)
    const response = await fetch(`${url}/mcp?session=1`, {
      method: "POST",
      headers: {
        authorization: "Bearer proxy-token",
        "x-auth-request-user": "admin",
        "x-auth-request-email": "admin@evil.example",
        "x-auth-request-scopes": "everything",
        "x-auth-request-client-id": "trusted-client",
        "x-forwarded-access-token": "forged",
        "mcp-session-id": "session-from-client",
        "content-type": "application/json",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    })
    assert.strictEqual(response.status, 200)
    assert.deepStrictEqual(await response.json(), { path: "/mcp?session=1" })
    // Mcp-Session-Id passes through both ways.
    assert.strictEqual(response.headers.get("mcp-session-id"), "session-from-target")
    const seen = t.seen[0]!
    assert.strictEqual(seen.method, "POST")
    assert.strictEqual(seen.body, '{"jsonrpc":"2.0","id":1,"method":"ping"}')
    assert.isUndefined(seen.headers.authorization)
    assert.isUndefined(seen.headers["x-forwarded-access-token"])
    assert.strictEqual(seen.headers["x-auth-request-user"], "user-1")
    assert.strictEqual(seen.headers["x-auth-request-email"], "user@example.com")
    assert.strictEqual(seen.headers["x-auth-request-scopes"], "openid mcp:tools")
    assert.strictEqual(seen.headers["x-auth-request-client-id"], "client-1")
    assert.strictEqual(seen.headers["mcp-session-id"], "session-from-client")
  })

  it("make - server-sent events are streamed: a chunk arrives before the response ends", async () => {
    let finish: () => void = () => {}
    const t = await target((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
      res.write('event: message\ndata: {"n":1}\n\n')
      finish = () => res.end('event: message\ndata: {"n":2}\n\n')
    })
    const url = await proxyTo(t.url)
    const response = await fetch(`${url}/mcp`, { method: "POST", body: "{}" })
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
    const reader = response.body!.getReader()
    const first = await reader.read()
    // The target has not ended the response yet; the first event is already here.
    assert.include(new TextDecoder().decode(first.value), '"n":1')
    finish()
    let rest = ""
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      rest += new TextDecoder().decode(value)
    }
    assert.include(rest, '"n":2')
  })

  it("make - request bodies are streamed: the target sees the first chunk before the client ends", async () => {
    const received: Array<string> = []
    const t = await target((req, res) => {
      req.on("data", (c: Buffer) => received.push(c.toString()))
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end(received.join(""))
      })
    })
    const url = await proxyTo(t.url)
    let push: (s: string | null) => void = () => {}
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (s) => (s === null ? controller.close() : controller.enqueue(new TextEncoder().encode(s)))
      },
    })
    const pending = fetch(`${url}/mcp`, {
      method: "POST",
      headers: { "x-test-raw": "1" },
      body,
      duplex: "half",
    } as RequestInit)
    push("first-chunk;")
    await eventually(() => received.join("").includes("first-chunk;"))
    push("second-chunk")
    push(null)
    const response = await pending
    assert.strictEqual(await response.text(), "first-chunk;second-chunk")
  })

  it("make - an unreachable target is a 502 JSON answer without details", async () => {
    const t = await fakeTarget()
    await t.close()
    const timings: Array<boolean> = []
    const url = await proxyTo(t.url, { observe: ({ ok }) => timings.push(ok) })
    const response = await fetch(`${url}/mcp`, { method: "POST", body: "{}" })
    assert.strictEqual(response.status, 502)
    assert.strictEqual(response.headers.get("content-type"), "application/json")
    const text = await response.text()
    assert.deepStrictEqual(JSON.parse(text), {
      error: "bad_gateway",
      error_description: "The protected resource is unreachable",
    })
    assert.notInclude(text, "ECONNREFUSED")
    assert.deepStrictEqual(timings, [false])
  })

  it("make - the upstream access token is forwarded when the option is set", async () => {
    const t = await target()
    const url = await proxyTo(t.url, { downstreamToken: async () => "upstream-at-123" })
    await (await fetch(`${url}/mcp`, { headers: { "x-forwarded-access-token": "forged" } })).text()
    assert.strictEqual(t.seen[0]!.headers["x-forwarded-access-token"], "upstream-at-123")
  })
})

describe("ReverseProxy.forwardHeaders - cookies", () => {
  it("drops the proxy's own oidcp_ cookies and keeps the others", () => {
    const only = ReverseProxy.forwardHeaders(
      new Headers({ cookie: "oidcp_tx_abc=1; oidcp_browser=2" }),
      fakeToken(),
    )
    assert.isNull(only.get("cookie"))
    const mixed = ReverseProxy.forwardHeaders(
      new Headers({ cookie: "app=1; oidcp_tx_abc=2; other=3" }),
      fakeToken(),
    )
    assert.strictEqual(mixed.get("cookie"), "app=1; other=3")
    // With an https issuer they carry the __Host- prefix.
    const secure = ReverseProxy.forwardHeaders(
      new Headers({ cookie: "__Host-oidcp_tx_abc=1; app=1; __Host-oidcp_browser=2" }),
      fakeToken(),
    )
    assert.strictEqual(secure.get("cookie"), "app=1")
  })
})

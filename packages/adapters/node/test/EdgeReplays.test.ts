/**
 * The replays of issue 19 against the assembled gateway: each request is sent as exactly these
 * bytes over a raw socket on 127.0.0.1 (an HTTP client library would normalise them), one request
 * per connection. Request-targets are read as paths (RFC 9112 §3.2), methods by one table per
 * route, and a defect behind a route is a generic 500 that leaves one log line.
 *
 * @since 0.1.0
 */
import { OAuthError, Store } from "@oidc-proxy/core"
import { Effect, Result } from "effect"
import { afterEach, assert, describe, it, vi } from "vitest"
import * as Gateway from "../src/Gateway.ts"
import * as GatewayConfig from "../src/GatewayConfig.ts"
import { env, fakeTarget, sendRaw, testServices } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(closers.splice(0).map((close) => close()))
})

const baseUrl = "http://127.0.0.1:8080"

const start = async (options: { store?: Parameters<typeof testServices>[1]; logLevel?: string } = {}) => {
  const target = await fakeTarget()
  closers.push(target.close)
  const services = await testServices(baseUrl, options.store)
  const decoded = GatewayConfig.decode(
    env({
      OIDC_PROXY_BASE_URL: baseUrl,
      OIDC_PROXY_LISTEN: "127.0.0.1:0",
      OIDC_PROXY_TARGET: `${target.url}/mcp`,
      OIDC_PROXY_LOG_LEVEL: options.logLevel ?? "none",
      OIDC_PROXY_LOG_FORMAT: "json",
      OIDC_PROXY_SHUTDOWN_TIMEOUT: "5",
    }),
  )
  if (Result.isFailure(decoded)) throw decoded.failure
  const gateway = await Gateway.start(decoded.success, { services: services.layer })
  closers.unshift(gateway.shutdown)
  return { gateway, target, host: new URL(gateway.url).host, issue: services.issue }
}

/** The one captured log line naming `id` (request ids are unique), waited for at most 5 s. */
const theOneLineWith = async (lines: ReadonlyArray<string>, id: string): Promise<string> => {
  const deadline = Date.now() + 5000
  while (!lines.some((l) => l.includes(id)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10))
  const found = lines.filter((l) => l.includes(id))
  assert.strictEqual(found.length, 1, lines.join("\n"))
  return found[0] ?? ""
}

const request = (method: string, target: string, host: string, extra = "") =>
  `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`

describe("Edge replays (issue 19)", () => {
  it("TRACE on /token, /healthz and /mcp - 405 with Allow, never 500, never an echo", async () => {
    const { gateway, target, host } = await start()
    const expected: Record<string, string> = {
      "/token": "POST",
      "/healthz": "GET",
      "/mcp": "GET, POST, DELETE",
    }
    for (const [path, allow] of Object.entries(expected)) {
      const answer = await sendRaw(gateway.url, request("TRACE", path, host, "X-Secret: echo-me\r\n"))
      assert.strictEqual(answer.status, 405, path)
      assert.strictEqual(answer.headers["allow"], allow, path)
      assert.notInclude(answer.body, "echo-me")
    }
    assert.strictEqual(target.seen.length, 0)
  })

  it("TRACK, PROPFIND and CONNECT - 405 with Allow, never a 5xx; no tunnel, nothing forwarded", async () => {
    const { gateway, target, host } = await start()
    const track = await sendRaw(gateway.url, request("TRACK", "/mcp", host))
    assert.strictEqual(track.status, 405)
    assert.isDefined(track.headers["allow"])
    const propfind = await sendRaw(gateway.url, request("PROPFIND", "/mcp", host))
    assert.strictEqual(propfind.status, 405)
    assert.strictEqual(propfind.headers["allow"], "GET, POST, DELETE")
    const tunnel = await sendRaw(gateway.url, request("CONNECT", "evil.example:443", host))
    assert.strictEqual(tunnel.status, 405)
    assert.isDefined(tunnel.headers["allow"])
    assert.strictEqual(target.seen.length, 0)
  })

  it("a remembered token does not carry TRACE or PUT past the method table (fast path included)", async () => {
    const { gateway, target, host, issue } = await start()
    const token = await issue({ sub: "alice" })
    const auth = `Authorization: Bearer ${token}\r\n`
    assert.strictEqual((await sendRaw(gateway.url, request("GET", "/mcp", host, auth))).status, 200)
    assert.strictEqual((await sendRaw(gateway.url, request("GET", "/mcp", host, auth))).status, 200)
    const seen = target.seen.length
    for (const method of ["TRACE", "PUT", "PATCH"]) {
      const extra = method === "TRACE" ? auth : `${auth}Content-Length: 0\r\n`
      const answer = await sendRaw(gateway.url, request(method, "/mcp", host, extra))
      assert.strictEqual(answer.status, 405, method)
      assert.strictEqual(answer.headers["allow"], "GET, POST, DELETE", method)
    }
    assert.strictEqual(target.seen.length, seen)
  })

  it("GET, POST and HEAD of //, ///, //?a=1, //:80/mcp, //%zz/, //@/, //mcp%00 - 4xx, never 500", async () => {
    const { gateway, target, host } = await start()
    const targets = ["//", "///", "//?a=1", "//:80/mcp", "//%zz/", "//@/", "//mcp%00"]
    for (const method of ["GET", "POST", "HEAD"])
      for (const raw of targets) {
        const extra = method === "POST" ? "Content-Length: 0\r\n" : ""
        const answer = await sendRaw(gateway.url, request(method, raw, host, extra))
        assert.isAtLeast(answer.status, 400, `${method} ${raw}`)
        assert.isBelow(answer.status, 500, `${method} ${raw}`)
      }
    assert.strictEqual(target.seen.length, 0)
  })

  it("//evil.example/healthz and //evil.example/.well-known/… - 404: a path with an empty first segment, not an authority", async () => {
    const { gateway, host } = await start()
    for (const raw of ["//evil.example/healthz", "//evil.example/.well-known/oauth-authorization-server"]) {
      const answer = await sendRaw(gateway.url, request("GET", raw, host))
      assert.strictEqual(answer.status, 404, raw)
    }
  })

  it("absolute-form - 400 for a foreign authority, served for the gateway's own", async () => {
    const { gateway, host } = await start()
    const foreign = await sendRaw(gateway.url, request("GET", "http://evil.example/healthz", host))
    assert.strictEqual(foreign.status, 400)
    assert.strictEqual(JSON.parse(foreign.body).error, "invalid_request")
    assert.include(
      gateway.metrics.render(),
      'oidc_proxy_http_requests_total{endpoint="other",status_class="4xx"} 1',
    )
    const own = await sendRaw(gateway.url, request("GET", `${gateway.url}/healthz`, host))
    assert.strictEqual(own.status, 200)
    const base = await sendRaw(gateway.url, request("GET", `${baseUrl}/healthz`, host))
    assert.strictEqual(base.status, 200)
  })

  it("asterisk-form - OPTIONS * answers the server's methods; any other method with * is 400", async () => {
    const { gateway, host } = await start()
    const options = await sendRaw(gateway.url, request("OPTIONS", "*", host))
    assert.strictEqual(options.status, 204)
    assert.include(options.headers["allow"] ?? "", "GET")
    const get = await sendRaw(gateway.url, request("GET", "*", host))
    assert.strictEqual(get.status, 400)
  })

  it("dot-segments - refused with 400 before the bearer check: what is routed is what is forwarded", async () => {
    const { gateway, target, host, issue } = await start()
    const token = await issue({ sub: "alice" })
    for (const raw of ["/mcp/../token", "/mcp/%2e%2e/x", "/mcp/./x", "/x/../mcp"]) {
      const answer = await sendRaw(
        gateway.url,
        request("GET", raw, host, `Authorization: Bearer ${token}\r\n`),
      )
      assert.strictEqual(answer.status, 400, raw)
    }
    assert.strictEqual(target.seen.length, 0)
    const plain = await sendRaw(
      gateway.url,
      request("GET", "/mcp/sub", host, `Authorization: Bearer ${token}\r\n`),
    )
    assert.strictEqual(plain.status, 200)
    assert.strictEqual(target.seen.at(-1)?.url, "/mcp/sub")
  })

  it("a JWT with a padded segment - 401 invalid_token on the Fetch path and after the token is remembered", async () => {
    const { gateway, target, host, issue } = await start()
    const token = await issue({ sub: "alice" })
    const bearer = (t: string) => request("GET", "/mcp", host, `Authorization: Bearer ${t}\r\n`)
    for (const round of ["cold", "remembered"]) {
      for (const spelling of [`${token}=`, `${token}==`]) {
        const answer = await sendRaw(gateway.url, bearer(spelling))
        assert.strictEqual(answer.status, 401, round)
        assert.include(answer.headers["www-authenticate"] ?? "", "not a well-formed JWT")
      }
      assert.strictEqual((await sendRaw(gateway.url, bearer(token))).status, 200)
    }
    assert.strictEqual(target.seen.length, 2)
  })

  it("a defect behind a route - generic 500 and one error line: id, method, path without query, tag and cause", async () => {
    const failing = Store.layerTest(() => ({
      set: () => Effect.die(new Error("disk on fire", { cause: new TypeError("inner reason") })),
      take: () => Effect.fail(new OAuthError.StoreError({ operation: "take", description: "down" })),
    }))
    const lines: Array<string> = []
    for (const method of ["log", "error", "info", "warn"] as const)
      vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "))
      })
    const { gateway, host } = await start({ store: failing, logLevel: "error" })
    const body = JSON.stringify({
      redirect_uris: ["http://127.0.0.1:9/cb"],
      client_name: "secret-body-value",
    })
    const answer = await sendRaw(
      gateway.url,
      `POST /register?q=query-value HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nAuthorization: Bearer header-token-value\r\nConnection: close\r\n\r\n${body}`,
    )
    assert.strictEqual(answer.status, 500)
    assert.deepStrictEqual(JSON.parse(answer.body), {
      error: "server_error",
      error_description: "An unexpected error occurred",
    })
    const id = answer.headers["x-request-id"] ?? ""
    const line = await theOneLineWith(lines, id)
    for (const expected of [
      '"method":"POST"',
      '"path":"/register"',
      "disk on fire",
      "inner reason",
      "TypeError",
    ])
      assert.include(line, expected)
    for (const secret of ["query-value", "secret-body-value", "header-token-value"])
      assert.notInclude(line, secret)
  })

  it("an unreachable target - each 502 (Fetch path and fast path) leaves one error line: id, method, path without query, cause", async () => {
    const lines: Array<string> = []
    for (const method of ["log", "error", "info", "warn"] as const)
      vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
        lines.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "))
      })
    const { gateway, target, host, issue } = await start({ logLevel: "error" })
    const remembered = await issue({ sub: "alice" })
    const get = (token: string) =>
      request("GET", "/mcp/x?q=query-value", host, `Authorization: Bearer ${token}\r\n`)
    assert.strictEqual((await sendRaw(gateway.url, get(remembered))).status, 200)
    await target.close()
    // The remembered bearer takes the fast path (NodeForward), a new one the Fetch path (ReverseProxy).
    for (const token of [remembered, await issue({ sub: "bob" })]) {
      const answer = await sendRaw(gateway.url, get(token))
      assert.strictEqual(answer.status, 502)
      assert.strictEqual(JSON.parse(answer.body).error, "bad_gateway")
      const id = answer.headers["x-request-id"] ?? ""
      assert.notStrictEqual(id, "")
      const line = await theOneLineWith(lines, id)
      for (const expected of ['"level":"ERROR"', '"method":"GET"', '"path":"/mcp/x"', "ECONNREFUSED"])
        assert.include(line, expected)
      for (const secret of ["query-value", token]) assert.notInclude(line, secret)
    }
  })

  it("Expect: 100-continue with a valid bearer - forwarded (200), not a 502 from the Fetch path", async () => {
    const { gateway, target, host, issue } = await start()
    const token = await issue({ sub: "alice" })
    const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
    const answer = await sendRaw(
      gateway.url,
      `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    )
    // The first answer read is the interim 100 Continue; the target's 200 follows it.
    assert.strictEqual(answer.status, 100)
    assert.notInclude(answer.body, "bad_gateway")
    assert.strictEqual(target.seen.length, 1)
    assert.strictEqual(target.seen[0]?.body, body)
    assert.isUndefined(target.seen[0]?.headers["expect"])
  })
})

/**
 * CORS at the gateway for MCP clients running in a browser page on another origin (issue 19):
 * preflights without a token on the discovery documents, `/register`, `/token`, `/revoke` and
 * `/mcp`; `Access-Control-Allow-Origin` on every actual answer, 401/403 and errors included;
 * `WWW-Authenticate` and `Mcp-Session-Id` exposed on `/mcp`; `/mcp` origins configurable. Raw
 * HTTP/1.1 on 127.0.0.1, as a browser sends it.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import { afterEach, assert, describe, it } from "vitest"
import * as GatewayConfig from "../src/GatewayConfig.ts"
import { env, fakeTarget, sendRaw, startInProcess } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

const baseUrl = "http://127.0.0.1:8080"
const page = "http://127.0.0.1:5173"

const start = async (overrides: Record<string, string> = {}) => {
  const target = await fakeTarget()
  closers.push(target.close)
  const { gateway, services } = await startInProcess(baseUrl, target.url, overrides)
  closers.unshift(gateway.shutdown)
  return { gateway, target, host: new URL(gateway.url).host, issue: services.issue }
}

const preflight = (path: string, host: string, method: string, origin = page) =>
  `OPTIONS ${path} HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${origin}\r\nAccess-Control-Request-Method: ${method}\r\nAccess-Control-Request-Headers: authorization, content-type, mcp-protocol-version\r\nConnection: close\r\n\r\n`

const actual = (method: string, path: string, host: string, extra = "", origin = page) =>
  `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${origin}\r\n${extra}Connection: close\r\n\r\n`

describe("CORS", () => {
  it("preflight - answered without a token on the metadata documents, /register, /token, /revoke and /mcp", async () => {
    const { gateway, target, host } = await start()
    const cases: Record<string, string> = {
      "/.well-known/oauth-protected-resource/mcp": "GET",
      "/.well-known/oauth-authorization-server": "GET",
      "/register": "POST",
      "/token": "POST",
      "/revoke": "POST",
      "/mcp": "POST",
    }
    for (const [path, method] of Object.entries(cases)) {
      const answer = await sendRaw(gateway.url, preflight(path, host, method))
      assert.strictEqual(answer.status, 204, path)
      assert.strictEqual(answer.headers["access-control-allow-origin"], "*", path)
      assert.include(answer.headers["access-control-allow-methods"] ?? "", method, path)
      for (const header of [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-session-id",
        "last-event-id",
      ])
        assert.include(answer.headers["access-control-allow-headers"] ?? "", header, path)
      assert.isUndefined(answer.headers["www-authenticate"], path)
    }
    assert.strictEqual(target.seen.length, 0)
  })

  it("actual answers - Allow-Origin on 401, on errors and on 200; the challenge and session id exposed on /mcp", async () => {
    const { gateway, host, issue } = await start()
    const unauthenticated = await sendRaw(gateway.url, actual("POST", "/mcp", host, "Content-Length: 0\r\n"))
    assert.strictEqual(unauthenticated.status, 401)
    assert.strictEqual(unauthenticated.headers["access-control-allow-origin"], "*")
    assert.include(unauthenticated.headers["access-control-expose-headers"] ?? "", "WWW-Authenticate")
    assert.include(unauthenticated.headers["access-control-expose-headers"] ?? "", "Mcp-Session-Id")
    const token = await issue({ sub: "alice" })
    const allowed = await sendRaw(
      gateway.url,
      actual("GET", "/mcp", host, `Authorization: Bearer ${token}\r\n`),
    )
    assert.strictEqual(allowed.status, 200)
    assert.strictEqual(allowed.headers["access-control-allow-origin"], "*")
    assert.strictEqual(allowed.headers["mcp-session-id"], "session-from-target")
    const form = "grant_type=password"
    const badGrant = await sendRaw(
      gateway.url,
      `POST /token HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${page}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\nConnection: close\r\n\r\n${form}`,
    )
    assert.strictEqual(badGrant.status, 400)
    assert.strictEqual(badGrant.headers["access-control-allow-origin"], "*")
    const metadata = await sendRaw(
      gateway.url,
      actual("GET", "/.well-known/oauth-authorization-server", host),
    )
    assert.strictEqual(metadata.headers["access-control-allow-origin"], "*")
  })

  it("/mcp origins configurable - a listed origin is echoed (Vary: Origin), another gets no CORS headers", async () => {
    const { gateway, host } = await start({ OIDC_PROXY_CORS_ORIGINS: `${page} https://app.example` })
    const listed = await sendRaw(gateway.url, preflight("/mcp", host, "POST"))
    assert.strictEqual(listed.headers["access-control-allow-origin"], page)
    assert.include(listed.headers["vary"] ?? "", "Origin")
    const other = await sendRaw(gateway.url, preflight("/mcp", host, "POST", "https://evil.example"))
    assert.isUndefined(other.headers["access-control-allow-origin"])
    const otherActual = await sendRaw(gateway.url, actual("GET", "/mcp", host, "", "https://evil.example"))
    assert.strictEqual(otherActual.status, 401)
    assert.isUndefined(otherActual.headers["access-control-allow-origin"])
    // The public endpoints stay open to any origin.
    const token = await sendRaw(gateway.url, preflight("/token", host, "POST", "https://evil.example"))
    assert.strictEqual(token.headers["access-control-allow-origin"], "*")
  })

  it("OIDC_PROXY_CORS_ORIGINS - a value that is not an origin stops the start, naming the variable", () => {
    const decoded = GatewayConfig.decode(env({ OIDC_PROXY_CORS_ORIGINS: "https://app.example/path" }))
    assert.isTrue(Result.isFailure(decoded))
    if (Result.isFailure(decoded))
      assert.include(decoded.failure.issues.join("\n"), "OIDC_PROXY_CORS_ORIGINS")
  })
})

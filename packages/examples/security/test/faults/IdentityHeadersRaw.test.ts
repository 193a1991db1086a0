/**
 * The identity a target sees when the caller writes its own bytes: raw HTTP/1.1 over `node:net`
 * (no client library to normalise names) to the real gateway (`Gateway.start`, 127.0.0.1) in front
 * of the WSGI target (`wsgi_target.py`), against the fake IdP issuing id_tokens. Each attack is
 * sent twice with a fresh access token (a refresh): the first request takes the general (Fetch)
 * path, the second, the bearer now remembered, the Node fast path.
 * - header names that some target folds onto an identity name (PHP: `.` to `_`; older Apache CGI:
 *   every character but letters and digits; several separators; the name 100 times) never reach it;
 * - malformed names (whitespace before the colon, obs-fold, an oversized name) are refused by the
 *   parser before anything is forwarded;
 * - `Forwarded` and `X-Forwarded-For`/`-Host`/`-Proto` are the caller's and pass through unchanged
 *   (the gateway claims none of them, SECURITY.md);
 * - the proxy's own `oidcp_` cookies never reach the target, also from repeated `Cookie` fields;
 * - identity values with NUL, DEL, `%` or a lone surrogate arrive percent-encoded; an email that is
 *   not a string, or whose `email_verified` is anything but `true`/`"true"`, is not sent.
 */
import type { Gateway } from "@oidc-proxy/node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { type ClientTokens, gatewayEnv, refresh, signIn, startGateway } from "./flows.ts"
import { freePort } from "./processes.ts"
import { pythonAvailable as python, type RawResponse, rawExchange, startWsgi, type Wsgi } from "./wsgi.ts"

let idp: FakeIdp
let wsgi: Wsgi
let gateway: Gateway.Gateway
let port: number

beforeAll(async () => {
  if (!python) return
  idp = await startFakeIdp()
  idp.idTokens = true
  wsgi = await startWsgi()
  port = await freePort()
  gateway = await startGateway(
    gatewayEnv(`http://127.0.0.1:${port}`, wsgi.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_VERIFY_ID_TOKEN: "true",
    }),
  )
})

afterAll(async () => {
  await gateway?.shutdown()
  await wsgi?.stop()
  await idp?.close()
})

const signedIn = async (subject: string, claims: Record<string, unknown>): Promise<ClientTokens> => {
  idp.subject = subject
  idp.claims = claims
  return signIn(gateway.url, idp)
}

/** A fresh access token of `tokens`' family: its first request takes the general path. */
const fresh = async (tokens: ClientTokens): Promise<ClientTokens> => {
  const res = await refresh(gateway.url, tokens)
  expect(res.status, res.text).toBe(200)
  return {
    ...tokens,
    access_token: res.body["access_token"] as string,
    refresh_token: res.body["refresh_token"] as string,
  }
}

/** `GET /mcp` with `fields` (raw header lines, each ending in CRLF) twice: general, then fast path. */
const twice = async (accessToken: string, fields: string): Promise<Array<RawResponse>> => {
  const bytes = `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${accessToken}\r\n${fields}Connection: close\r\n\r\n`
  return [await rawExchange(port, bytes), await rawExchange(port, bytes)]
}

/** The WSGI environ of each of the two requests; both must have been forwarded. */
const environs = async (accessToken: string, fields: string): Promise<Array<Record<string, string>>> =>
  (await twice(accessToken, fields)).map((res, i) => {
    expect(res.status, `${i === 0 ? "general" : "fast"} path: ${res.body}`).toBe(200)
    return JSON.parse(res.body) as Record<string, string>
  })

/** An environ key as PHP's `$_SERVER` and older Apache CGI register it: every non-alphanumeric to `_`. */
const asPhp = (key: string) => key.toUpperCase().replace(/[^A-Z0-9]/g, "_")

const identityKeys = /^HTTP_X_(AUTH_REQUEST_|FORWARDED_(ACCESS_TOKEN|USER|EMAIL|PREFERRED_USERNAME|GROUPS)$)/

describe.skipIf(!python)("raw bytes → gateway → WSGI target - identity headers", () => {
  let ada: ClientTokens

  beforeAll(async () => {
    if (!python) return
    // Unverified email: the gateway sends no X-Auth-Request-Email, so a smuggled one would be alone.
    ada = await signedIn("ada", { email: "ada@example.com", email_verified: false })
  }, 30_000)

  it("names folding onto an identity name under PHP, CGI or nginx rules never reach the target, on both paths", async () => {
    const forged = [
      "X.Auth.Request.User: mallory",
      "X.Auth.Request.Email: ceo@victim.example",
      "x~AUTH~request~Groups: admins",
      "X__Auth__Request__Preferred_Username: root",
      "X-Auth-Request-Client.Id: mallory-client",
      "X.Forwarded.User: mallory",
      "X-Forwarded-Email_: ceo@victim.example",
      "x.forwarded.access.token: forged-upstream-token",
      "X-Forwarded--Groups: admins",
      "_X_Auth_Request_Scopes: admin",
      "X!Auth#Request$User: mallory",
      "X'Auth*Request+User|: mallory",
      ...Array.from({ length: 100 }, () => "X_Auth_Request_User: mallory"),
    ]
    const control = "X.Trace.Tag: kept\r\nX_Trace_Id: kept\r\n"
    const token = (await fresh(ada)).access_token
    for (const env of await environs(token, `${forged.join("\r\n")}\r\n${control}`)) {
      expect(env["HTTP_X_AUTH_REQUEST_USER"]).toBe("ada")
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
      expect(env["HTTP_X.TRACE.TAG"]).toBe("kept")
      expect(env["HTTP_X_TRACE_ID"]).toBe("kept")
      const identity = Object.keys(env).filter((key) => identityKeys.test(asPhp(key)))
      expect(identity.sort()).toEqual([
        "HTTP_X_AUTH_REQUEST_CLIENT_ID",
        "HTTP_X_AUTH_REQUEST_SCOPES",
        "HTTP_X_AUTH_REQUEST_USER",
      ])
      expect(JSON.stringify(env)).not.toMatch(/mallory|victim|admins|root|forged/)
    }
  }, 30_000)

  it("malformed field names are refused by the parser before anything is forwarded", async () => {
    const token = (await fresh(ada)).access_token
    await twice(token, "") // the bearer is now remembered: the cases below meet the fast path too
    const refused: Array<[string, number]> = [
      ["X-Auth-Request-User : mallory\r\n", 400],
      ["X-Auth-Request-User\t: mallory\r\n", 400],
      ["X Auth Request User: mallory\r\n", 400],
      ["X-Trace: a\r\n X-Auth-Request-User: mallory\r\n", 400],
      ["X-Trace: a\r\n\tX-Auth-Request-User: mallory\r\n", 400],
      [`X-Auth-Request-User${"-".repeat(17 * 1024)}: mallory\r\n`, 431],
    ]
    for (const [fields, status] of refused)
      for (const res of await twice(token, fields)) expect(res.status, JSON.stringify(fields)).toBe(status)
  }, 30_000)

  it("Forwarded and X-Forwarded-For/-Host/-Proto are the caller's: passed through unchanged, never added", async () => {
    const token = (await fresh(ada)).access_token
    for (const env of await environs(token, ""))
      for (const key of [
        "HTTP_FORWARDED",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_X_FORWARDED_HOST",
        "HTTP_X_FORWARDED_PROTO",
      ])
        expect(env[key], key).toBeUndefined()
    const claimed =
      "Forwarded: for=192.0.2.1;host=evil.example;proto=https\r\nX-Forwarded-For: 192.0.2.1\r\n" +
      "X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\n"
    for (const env of await environs(token, claimed)) {
      expect(env["HTTP_FORWARDED"]).toBe("for=192.0.2.1;host=evil.example;proto=https")
      expect(env["HTTP_X_FORWARDED_FOR"]).toBe("192.0.2.1")
      expect(env["HTTP_X_FORWARDED_HOST"]).toBe("evil.example")
      expect(env["HTTP_X_FORWARDED_PROTO"]).toBe("https")
    }
  }, 30_000)

  it("the proxy's own cookies never reach the target, also from repeated Cookie fields, on both paths", async () => {
    const token = (await fresh(ada)).access_token
    const fields =
      "Cookie: app=1\r\nCookie: oidcp_browser=planted; __Host-oidcp_tx_1=x\r\nCookie: theme=dark\r\n"
    for (const env of await environs(token, fields)) expect(env["HTTP_COOKIE"]).toBe("app=1; theme=dark")
  }, 30_000)

  it("identity values: NUL, DEL, % and lone surrogates percent-encoded; an email not a string, or not verified as true, not sent", async () => {
    const odd = await signedIn("a\u0000b\u007fc%\uD800", { email: ["ada@example.com"], email_verified: true })
    for (const env of await environs(odd.access_token, "")) {
      expect(env["HTTP_X_AUTH_REQUEST_USER"]).toBe("a%00b%7Fc%25%ED%A0%80")
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
    }
    const object = await signedIn("ada", { email: { address: "ada@example.com" }, email_verified: true })
    for (const env of await environs(object.access_token, ""))
      expect(env["HTTP_X_AUTH_REQUEST_EMAIL"]).toBeUndefined()
    for (const verified of ["True", 1, "yes"]) {
      const tokens = await signedIn("ada", { email: "ada@example.com", email_verified: verified })
      for (const env of await environs(tokens.access_token, ""))
        expect(env["HTTP_X_AUTH_REQUEST_EMAIL"], String(verified)).toBeUndefined()
    }
  }, 60_000)
})

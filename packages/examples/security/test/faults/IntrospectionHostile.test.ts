/**
 * A hostile introspection endpoint: the fake IdP in opaque mode answers `active: true` with members
 * of every wrong shape (the binary as a child process, `OIDC_PROXY_CACHE_TTL=0` so every bearer
 * check asks again). Each answer is a precise 401 `invalid_token` or an allowed request whose
 * identity headers reach the target intact (scope words that are not scope tokens dropped), never
 * a 502, never a split or refused header; a body that is not a JSON object is a 503.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { bearer, type ClientTokens, gatewayEnv, signIn, startTarget, type Target } from "./flows.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

let idp: FakeIdp
let target: Target
let gateway: GatewayProcess
let tokens: ClientTokens

beforeAll(async () => {
  idp = await startFakeIdp()
  idp.opaque = true
  target = await startTarget()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  gateway = await spawnGateway(
    url,
    gatewayEnv(url, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: `${idp.issuer}/authorize`,
      OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: `${idp.issuer}/token`,
      OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: `${idp.issuer}/introspect`,
      OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
      OIDC_PROXY_CACHE_TTL: "0",
    }),
  )
  tokens = await signIn(gateway.url, idp)
}, 30_000)

afterAll(async () => {
  await gateway?.stop("SIGKILL")
  await target?.close()
  await idp?.close()
})

type Answer = Record<string, unknown>
const refused: Array<[string, (a: Answer) => unknown]> = [
  ["active as a string", (a) => ({ ...a, active: "true" })],
  ["active as 1", (a) => ({ ...a, active: 1 })],
  ["exp as a string", (a) => ({ ...a, exp: String(a["exp"]) })],
  ["exp negative", (a) => ({ ...a, exp: -1 })],
  ["iss of another issuer", (a) => ({ ...a, iss: "https://other.test" })],
  ["aud of another audience", (a) => ({ ...a, aud: ["https://other.test/api"] })],
  ["sub as an object", (a) => ({ ...a, sub: { id: 1 } })],
  ["sub as a float", (a) => ({ ...a, sub: 1.5 })],
  ["iat as a string", (a) => ({ ...a, iat: "now" })],
]
const allowed: Array<[string, (a: Answer) => unknown]> = [
  ["exp as a float far away", (a) => ({ ...a, exp: 1e12 + 0.5 })],
  ["aud as an array naming ours", (a) => ({ ...a, aud: ["https://other.test/api", a["aud"]] })],
  ["scope as an array (no scopes)", (a) => ({ ...a, scope: ["openid", "admin"] })],
  ["sub with CR LF", (a) => ({ ...a, sub: "ada\r\nx-auth-request-email: root@example.com" })],
  ["sub outside Latin-1", (a) => ({ ...a, sub: "\u0100da" })],
  [
    "scope with control and non-Latin-1 characters",
    (a) => ({ ...a, scope: "openid a\u0000b c\u0100d e\u007ff" }),
  ],
]

describe("hostile introspection answers", () => {
  it.each(refused)("%s: 401 invalid_token", async (_, rewrite) => {
    idp.introspectionAnswer = rewrite
    const check = await bearer(gateway.url, tokens.access_token)
    expect(check.status, check.text).toBe(401)
    expect(check.error).toBe("invalid_token")
  })

  it("an answer that is not a JSON object: 503 with Retry-After (an upstream failure, not a refusal)", async () => {
    idp.introspectionAnswer = () => [{ active: true }]
    const check = await bearer(gateway.url, tokens.access_token)
    expect(check.status, check.text).toBe(503)
    expect(check.retryAfter).not.toBeNull()
  })

  it.each(allowed)("%s: allowed, identity headers intact", async (_, rewrite) => {
    idp.introspectionAnswer = rewrite
    // Signed in with the answer as rewritten: a session's subject is its sign-in's (one whose
    // upstream later names another subject is refused).
    const session = await signIn(gateway.url, idp)
    const before = target.hits()
    const check = await bearer(gateway.url, session.access_token)
    expect(check.status, check.text).toBe(200)
    expect(target.hits()).toBe(before + 1)
    const headers = target.seen.at(-1)!.headers
    expect(headers["x-auth-request-email"]).toBeUndefined()
    for (const value of Object.values(headers)) expect(String(value)).toMatch(/^[\x20-\x7e]*$/)
  })
})

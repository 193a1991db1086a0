/**
 * A hostile introspection endpoint: the fake IdP in opaque mode answers `active: true` with members
 * of every wrong shape (the binary as a child process, `OIDC_PROXY_CACHE_TTL=0` so every bearer
 * check asks again). Each answer is a precise 401 `invalid_token` or an allowed request whose
 * identity headers reach the target intact (scope words that are not scope tokens dropped), never
 * a 502, never a split or refused header; a body that is not a JSON object is a 503.
 */
import { describe, expect, it } from "vitest"
import { bearer, binaryScenario, endpointsByHand, signIn } from "./flows.ts"

const s = binaryScenario(
  (idp) => {
    idp.opaque = true
    return {
      ...endpointsByHand(idp, "introspect"),
      OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
      OIDC_PROXY_CACHE_TTL: "0",
    }
  },
  { signIn: true },
)

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
    s.idp.introspectionAnswer = rewrite
    const check = await bearer(s.gateway.url, s.tokens.access_token)
    expect(check.status, check.text).toBe(401)
    expect(check.error).toBe("invalid_token")
  })

  it("an answer that is not a JSON object: 503 with Retry-After (an upstream failure, not a refusal)", async () => {
    s.idp.introspectionAnswer = () => [{ active: true }]
    const check = await bearer(s.gateway.url, s.tokens.access_token)
    expect(check.status, check.text).toBe(503)
    expect(check.retryAfter).not.toBeNull()
  })

  it.each(allowed)("%s: allowed, identity headers intact", async (_, rewrite) => {
    s.idp.introspectionAnswer = rewrite
    // Signed in with the answer as rewritten: a session's subject is its sign-in's (one whose
    // upstream later names another subject is refused).
    const session = await signIn(s.gateway.url, s.idp)
    const before = s.target.hits()
    const check = await bearer(s.gateway.url, session.access_token)
    expect(check.status, check.text).toBe(200)
    expect(s.target.hits()).toBe(before + 1)
    const headers = s.target.seen.at(-1)!.headers
    expect(headers["x-auth-request-email"]).toBeUndefined()
    for (const value of Object.values(headers)) expect(String(value)).toMatch(/^[\x20-\x7e]*$/)
  })
})

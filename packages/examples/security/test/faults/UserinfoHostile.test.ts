/**
 * A hostile userinfo (provider API) endpoint, GitHub-style: the subject is `id`, the scopes come
 * from `X-OAuth-Scopes`. The fake IdP in opaque mode answers with members of every wrong shape and
 * odd scopes headers (the binary as a child process, `OIDC_PROXY_CACHE_TTL=0` so every bearer
 * check asks again). A subject that is not a non-empty string or a safe integer is a 401
 * `invalid_token`; the scopes the target is told are the header's scope tokens, whatever the
 * separators or repetitions; the body's own `scope` and `exp` are never believed.
 */
import { describe, expect, it } from "vitest"
import { bearer, binaryScenario, endpointsByHand, signIn } from "./flows.ts"

const s = binaryScenario(
  (idp) => {
    idp.opaque = true
    idp.idTokens = false
    idp.claims = { id: 583231, login: "octocat" }
    return {
      ...endpointsByHand(idp, "userinfo"),
      OIDC_PROXY_UPSTREAM_VERIFICATION: "userinfo",
      OIDC_PROXY_UPSTREAM_SUBJECT_CLAIM: "id",
      OIDC_PROXY_UPSTREAM_SCOPES_HEADER: "X-OAuth-Scopes",
      OIDC_PROXY_UPSTREAM_SCOPES: "read:user user:email",
      OIDC_PROXY_VERIFY_ID_TOKEN: "false",
      OIDC_PROXY_CACHE_TTL: "0",
    }
  },
  { signIn: true },
)

type Answer = Record<string, unknown>
const refused: Array<[string, (a: Answer) => unknown]> = [
  ["id as a float", (a) => ({ ...a, id: 1.5 })],
  ["id past the safe integers", (a) => ({ ...a, id: 1e21 })],
  ["id as an object", (a) => ({ ...a, id: { n: 1 } })],
  ["id empty", (a) => ({ ...a, id: "" })],
  ["id missing", ({ id: _id, ...a }) => a],
]

/** The last request's identity headers at the target, after an allowed check. */
const allowedWith = async (token = s.tokens.access_token) => {
  const before = s.target.hits()
  const check = await bearer(s.gateway.url, token)
  expect(check.status, check.text).toBe(200)
  expect(s.target.hits()).toBe(before + 1)
  return s.target.seen.at(-1)!.headers
}

describe("hostile userinfo answers", () => {
  it.each(refused)("%s: 401 invalid_token", async (_, rewrite) => {
    s.idp.userinfoAnswer = rewrite
    const check = await bearer(s.gateway.url, s.tokens.access_token)
    expect(check.status, check.text).toBe(401)
    expect(check.error).toBe("invalid_token")
  })

  it("a negative id is a subject like any integer; the body's scope and exp are not believed", async () => {
    s.idp.userinfoAnswer = (a) => ({ ...a, id: -7, scope: "admin", exp: 1 })
    s.idp.userinfoScopes = "read:user"
    // The subject is the sign-in's (a session whose upstream now names another is refused): a
    // session of the user whose id is -7.
    const session = await signIn(s.gateway.url, s.idp)
    const headers = await allowedWith(session.access_token)
    expect(headers["x-auth-request-user"]).toBe("-7")
    expect(headers["x-auth-request-scopes"]).toBe("read:user")
  })

  it("scopes header: commas, spaces, tabs, repetitions and a repeated header all name scope tokens", async () => {
    s.idp.userinfoAnswer = undefined
    s.idp.userinfoScopes = ["repo,\tuser:email ,, repo", "gist"]
    expect((await allowedWith())["x-auth-request-scopes"]).toBe("gist repo user:email")
    s.idp.userinfoScopes = 'repo, r\u00e9po, "q"'
    expect((await allowedWith())["x-auth-request-scopes"]).toBe("repo")
  })
})

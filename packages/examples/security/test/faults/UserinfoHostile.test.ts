/**
 * A hostile userinfo (provider API) endpoint, GitHub-style: the subject is `id`, the scopes come
 * from `X-OAuth-Scopes`. The fake IdP in opaque mode answers with members of every wrong shape and
 * odd scopes headers (the binary as a child process, `OIDC_PROXY_CACHE_TTL=0` so every bearer
 * check asks again). A subject that is not a non-empty string or a safe integer is a 401
 * `invalid_token`; the scopes the target is told are the header's scope tokens, whatever the
 * separators or repetitions; the body's own `scope` and `exp` are never believed.
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
  idp.idTokens = false
  idp.claims = { id: 583231, login: "octocat" }
  target = await startTarget()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  gateway = await spawnGateway(
    url,
    gatewayEnv(url, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: `${idp.issuer}/authorize`,
      OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: `${idp.issuer}/token`,
      OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT: `${idp.issuer}/userinfo`,
      OIDC_PROXY_UPSTREAM_VERIFICATION: "userinfo",
      OIDC_PROXY_UPSTREAM_SUBJECT_CLAIM: "id",
      OIDC_PROXY_UPSTREAM_SCOPES_HEADER: "X-OAuth-Scopes",
      OIDC_PROXY_UPSTREAM_SCOPES: "read:user user:email",
      OIDC_PROXY_VERIFY_ID_TOKEN: "false",
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
  ["id as a float", (a) => ({ ...a, id: 1.5 })],
  ["id past the safe integers", (a) => ({ ...a, id: 1e21 })],
  ["id as an object", (a) => ({ ...a, id: { n: 1 } })],
  ["id empty", (a) => ({ ...a, id: "" })],
  ["id missing", ({ id: _id, ...a }) => a],
]

/** The last request's identity headers at the target, after an allowed check. */
const allowedWith = async () => {
  const before = target.hits()
  const check = await bearer(gateway.url, tokens.access_token)
  expect(check.status, check.text).toBe(200)
  expect(target.hits()).toBe(before + 1)
  return target.seen.at(-1)!.headers
}

describe("hostile userinfo answers", () => {
  it.each(refused)("%s: 401 invalid_token", async (_, rewrite) => {
    idp.userinfoAnswer = rewrite
    const check = await bearer(gateway.url, tokens.access_token)
    expect(check.status, check.text).toBe(401)
    expect(check.error).toBe("invalid_token")
  })

  it("a negative id is a subject like any integer; the body's scope and exp are not believed", async () => {
    idp.userinfoAnswer = (a) => ({ ...a, id: -7, scope: "admin", exp: 1 })
    idp.userinfoScopes = "read:user"
    // The subject is the sign-in's (a session whose upstream now names another is refused): a
    // session of the user whose id is -7.
    const signedIn = tokens
    tokens = await signIn(gateway.url, idp)
    try {
      const headers = await allowedWith()
      expect(headers["x-auth-request-user"]).toBe("-7")
      expect(headers["x-auth-request-scopes"]).toBe("read:user")
    } finally {
      tokens = signedIn
    }
  })

  it("scopes header: commas, spaces, tabs, repetitions and a repeated header all name scope tokens", async () => {
    idp.userinfoAnswer = undefined
    idp.userinfoScopes = ["repo,\tuser:email ,, repo", "gist"]
    expect((await allowedWith())["x-auth-request-scopes"]).toBe("gist repo user:email")
    idp.userinfoScopes = 'repo, r\u00e9po, "q"'
    expect((await allowedWith())["x-auth-request-scopes"]).toBe("repo")
  })
})

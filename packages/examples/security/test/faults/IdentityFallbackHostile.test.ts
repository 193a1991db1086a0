/**
 * The id_token identity fallback (access_token mode) against a hostile IdP, through the
 * `oidc-proxy` binary in front of a recording target, with a policy that lets a `ping` through
 * only for a verified email at `example.com`. The IdP's access tokens carry no email unless a test
 * says so; its id_tokens carry what each test chooses. The target's `X-Auth-Request-Email` and the
 * policy's answer are what a hostile id_token could change:
 * - an id_token whose `sub` is the access token's only by some loose reading (trailing space,
 *   case, Unicode normalisation, a number) lends nothing;
 * - an access token's own email is never marked verified by the id_token, and an access token that
 *   says `email_verified: false` does not take the id_token's email;
 * - an email with CR/LF is no email: it passes no `email_domains` condition and is never sent;
 * - a refresh that hands the session another user's access token drops the sign-in's identity,
 *   and the bearer is refused (401) rather than forwarded as that user;
 * - two sessions of one subject with different id_tokens keep their own identity;
 * - under introspection, the fallback follows the introspected subject.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { backFromIdp, bearer, gatewayEnv, signIn, startTarget, type Target, toIdp } from "./flows.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

const policy = `default: deny
rules:
  - id: staff
    effect: allow
    methods: [ping]
    when:
      email_domains: [example.com]
`

const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-idfallback-"))
const policyFile = join(dir, "policy.yaml")
let idp: FakeIdp
let target: Target
const gateways: Array<GatewayProcess> = []

beforeAll(async () => {
  writeFileSync(policyFile, policy)
  idp = await startFakeIdp()
  target = await startTarget()
}, 30_000)

afterAll(async () => {
  for (const gateway of gateways) await gateway.stop("SIGKILL")
  await target?.close()
  await idp?.close()
  rmSync(dir, { recursive: true, force: true })
})

const start = async (extra: Record<string, string> = {}, withPolicy = true) => {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const gateway = await spawnGateway(
    url,
    gatewayEnv(url, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      ...(withPolicy ? { OIDC_PROXY_POLICY: policyFile } : {}),
      ...extra,
    }),
  )
  gateways.push(gateway)
  return url
}

/** Signs in with access-token claims `access` and an id_token of `idToken`. */
const signInWith = async (
  url: string,
  access: Record<string, unknown>,
  idToken: { readonly claims?: Record<string, unknown>; readonly sub?: unknown },
) => {
  idp.claims = access
  idp.idToken = idToken
  try {
    return await signIn(url, idp)
  } finally {
    idp.idToken = undefined
  }
}

/**
 * A `ping` through the gateway: whether it reached the target (the policy refuses with a JSON-RPC
 * error in a 200, the bearer check with 401/403) and the headers the target got.
 */
const ping = async (url: string, token: string) => {
  const before = target.seen.length
  const answer = await bearer(url, token)
  const seen = target.seen.slice(before)
  return { status: answer.status, headers: seen.at(-1)?.headers, reached: seen.length > 0 }
}

const verified = { email: "ada@example.com", email_verified: true }

describe("identity fallback from a hostile id_token (JWT access tokens)", () => {
  let url = ""
  beforeAll(async () => {
    url = await start()
  }, 60_000)

  it("the same iss and sub lend the id_token's verified email (the baseline)", async () => {
    idp.subject = "ada"
    const tokens = await signInWith(url, {}, { claims: verified })
    const seen = await ping(url, tokens.access_token)
    expect(seen.reached).toBe(true)
    expect(seen.headers?.["x-auth-request-user"]).toBe("ada")
    expect(seen.headers?.["x-auth-request-email"]).toBe("ada@example.com")
  }, 60_000)

  it.each([
    ["a trailing space", "ada", "ada "],
    ["another case", "ada", "Ada"],
    ["another Unicode normalisation", "jos\u00e9", "jose\u0301"],
  ])(
    "an id_token whose sub differs by %s lends nothing",
    async (_, subject, idSub) => {
      idp.subject = subject
      const tokens = await signInWith(url, {}, { claims: verified, sub: idSub })
      const seen = await ping(url, tokens.access_token)
      expect(seen.reached).toBe(false)
      idp.subject = "ada"
    },
    60_000,
  )

  it("an id_token whose sub is a number is refused at the exchange: no sign-in", async () => {
    idp.subject = "42"
    idp.claims = {}
    idp.idToken = { claims: verified, sub: 42 }
    try {
      const back = await backFromIdp(await toIdp(url, idp))
      expect(back.searchParams.get("error"), back.href).toBe("server_error")
      expect(back.searchParams.get("code")).toBeNull()
    } finally {
      idp.idToken = undefined
      idp.subject = "ada"
    }
  }, 60_000)

  it("an access token's unverified email is not marked verified by the id_token", async () => {
    for (const email of ["ada@example.com", "mallory@elsewhere.test"]) {
      const tokens = await signInWith(url, { email }, { claims: verified })
      const seen = await ping(url, tokens.access_token)
      expect(seen.reached, email).toBe(false)
    }
  }, 90_000)

  it("an access token that says email_verified: false takes no email from the id_token", async () => {
    const tokens = await signInWith(url, { email_verified: false }, { claims: verified })
    expect((await ping(url, tokens.access_token)).reached).toBe(false)
  }, 60_000)

  it("an id_token email with CR/LF is no email: the example.com rule refuses it, nothing is sent", async () => {
    // Its domain after the last @ is example.com, but it is no addr-spec (a control character, a
    // space): it must not pass the policy's email_domains condition (a JSON-RPC denial), nor reach
    // the target at all.
    const email = "ada\r\nX-Injected: 1@example.com"
    const tokens = await signInWith(url, {}, { claims: { email, email_verified: true } })
    const seen = await ping(url, tokens.access_token)
    expect(seen.reached).toBe(false)
  }, 60_000)

  it("two sessions of one subject keep their own id_token's identity", async () => {
    idp.subject = "ada"
    const first = await signInWith(url, {}, { claims: verified })
    const second = await signInWith(url, {}, { claims: { email: "ada@other.test", email_verified: true } })
    for (let round = 0; round < 2; round++) {
      const a = await ping(url, first.access_token)
      const b = await ping(url, second.access_token)
      expect(a.reached).toBe(true)
      expect(a.headers?.["x-auth-request-email"]).toBe("ada@example.com")
      expect(b.reached).toBe(false)
    }
  }, 90_000)
})

describe("identity fallback across a refresh that changes the user", () => {
  it("a refreshed access token of another subject drops the sign-in's identity", async () => {
    const url = await start()
    idp.subject = "ada"
    idp.expiresIn = 1 // every bearer check refreshes the upstream session
    try {
      const tokens = await signInWith(url, {}, { claims: verified })
      const before = await ping(url, tokens.access_token)
      expect(before.reached).toBe(true)
      expect(before.headers?.["x-auth-request-email"]).toBe("ada@example.com")
      const refreshes = idp.counts.refresh
      idp.subject = "mallory"
      const after = await ping(url, tokens.access_token)
      expect(idp.counts.refresh).toBeGreaterThan(refreshes)
      expect(after.reached).toBe(false)
    } finally {
      idp.expiresIn = 3600
      idp.subject = "ada"
    }
  }, 90_000)
})

describe("a refresh that hands the session another user's access token (no policy)", () => {
  it("the bearer is refused with invalid_token, never forwarded as the other user", async () => {
    const url = await start({}, false)
    idp.subject = "ada"
    idp.expiresIn = 1 // every bearer check refreshes the upstream session
    try {
      const tokens = await signInWith(url, {}, { claims: verified })
      const before = await ping(url, tokens.access_token)
      expect(before.reached).toBe(true)
      expect(before.headers?.["x-auth-request-user"]).toBe("ada")
      idp.subject = "mallory"
      const after = await ping(url, tokens.access_token)
      expect(after.reached).toBe(false)
      expect(after.status).toBe(401)
      const again = await bearer(url, tokens.access_token)
      expect(again.status).toBe(401)
      expect(target.seen.some((r) => r.headers["x-auth-request-user"] === "mallory")).toBe(false)
    } finally {
      idp.expiresIn = 3600
      idp.subject = "ada"
    }
  }, 90_000)
})

describe("identity fallback under introspection (opaque access tokens)", () => {
  let url = ""
  beforeAll(async () => {
    url = await start({
      OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: `${idp.issuer}/introspect`,
      OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
      OIDC_PROXY_CACHE_TTL: "0",
    })
  }, 60_000)

  afterAll(() => {
    idp.opaque = false
    idp.introspectionAnswer = undefined
  })

  it("follows the introspected subject: the id_token lends its email only to the same sub", async () => {
    idp.opaque = true
    idp.subject = "ada"
    const tokens = await signInWith(url, {}, { claims: verified })
    const same = await ping(url, tokens.access_token)
    expect(same.reached).toBe(true)
    expect(same.headers?.["x-auth-request-email"]).toBe("ada@example.com")

    idp.introspectionAnswer = (answer) => ({ ...answer, sub: "mallory" })
    const other = await ping(url, tokens.access_token)
    expect(other.reached).toBe(false)
  }, 60_000)
})

describe("access rules at sign-in take the email pair from one token", () => {
  let url = ""
  beforeAll(async () => {
    url = await start({ OIDC_PROXY_ALLOWED_EMAIL_DOMAINS: "example.com" })
  }, 60_000)

  /** The sign-in's answer at the client's redirect URI: a code, or an error. */
  const signInAnswer = async (access: Record<string, unknown>, idToken: Record<string, unknown>) => {
    idp.claims = access
    idp.idToken = { claims: idToken }
    try {
      return await backFromIdp(await toIdp(url, idp))
    } finally {
      idp.idToken = undefined
    }
  }

  it.each([
    [
      "the access token's unverified email with the id_token's email_verified",
      { email: "mallory@example.com" },
      { email_verified: true },
    ],
    [
      "the access token's email_verified with the id_token's unverified email",
      { email_verified: true },
      { email: "mallory@example.com" },
    ],
  ])(
    "%s is no verified email",
    async (_, access, idToken) => {
      const back = await signInAnswer(access, idToken)
      expect(back.searchParams.get("error"), back.href).toBe("access_denied")
      expect(back.searchParams.get("code")).toBeNull()
    },
    60_000,
  )

  it("the id_token's verified email lets the sign-in through (the rule still reads it)", async () => {
    const back = await signInAnswer({ email: "mallory@elsewhere.test" }, verified)
    expect(back.searchParams.get("error"), back.href).toBeNull()
    expect(back.searchParams.get("code")).not.toBeNull()
  }, 60_000)
})

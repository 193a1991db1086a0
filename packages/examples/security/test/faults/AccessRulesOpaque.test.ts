/**
 * Access rules under a network verification strategy (introspection, userinfo), against the fake
 * IdP in opaque mode whose token responses also carry an id_token (scope `openid`). The rules read
 * the identity's claims at the callback; the id_token's are there, checked at the code exchange
 * (issuer, audience, expiry, nonce). An id_token is never sent to the introspection or userinfo
 * endpoint (neither verifies id_tokens; the userinfo endpoint would receive it as a bearer): an
 * allowed account signs in, another is refused with `access_denied`, and so is an email that only
 * looks like the allowed domain after its last `@`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  backFromIdp,
  bearer,
  endpointsByHand,
  redeem,
  spawnAgainst,
  startTarget,
  type Target,
  toIdp,
} from "./flows.ts"
import type { GatewayProcess } from "./processes.ts"

let idp: FakeIdp
let target: Target
const gateways: Array<GatewayProcess> = []

beforeAll(async () => {
  idp = await startFakeIdp()
  idp.opaque = true
  target = await startTarget()
}, 30_000)

afterAll(async () => {
  for (const gateway of gateways) await gateway.stop("SIGKILL")
  await target?.close()
  await idp?.close()
})

const start = async (verification: "introspection" | "userinfo") => {
  const gateway = await spawnAgainst(idp, target, {
    ...endpointsByHand(idp, "introspect", "userinfo"),
    OIDC_PROXY_UPSTREAM_VERIFICATION: verification,
    OIDC_PROXY_VERIFY_ID_TOKEN: "false",
    OIDC_PROXY_ALLOWED_EMAIL_DOMAINS: "example.com",
  })
  gateways.push(gateway)
  return gateway
}

/** A sign-in through `url` as the IdP's current user: the client's redirect query. */
const signInAs = async (url: string, email: string) => {
  idp.claims = { email, email_verified: true }
  const at = await toIdp(url, idp)
  return { at, back: await backFromIdp(at) }
}

describe.each(["introspection", "userinfo"] as const)("access rules with %s verification", (verification) => {
  it("reads the id_token's claims from the code exchange and never sends the id_token to the IdP's endpoints", async () => {
    const gateway = await start(verification)
    idp.userinfoBearers.length = 0
    const allowed = await signInAs(gateway.url, "ada@example.com")
    expect(allowed.back.searchParams.get("error_description"), allowed.back.href).toBeNull()
    const tokens = await redeem(gateway.url, allowed.at, allowed.back.searchParams.get("code")!)
    expect((await bearer(gateway.url, tokens.access_token)).status).toBe(200)

    const refused = await signInAs(gateway.url, "eve@elsewhere.test")
    expect(refused.back.searchParams.get("error"), refused.back.href).toBe("access_denied")
    expect(refused.back.searchParams.get("code")).toBeNull()
    for (const token of idp.userinfoBearers) expect(token, "an id_token sent as a bearer").toMatch(/^opaque-/)
  }, 60_000)

  it("refuses emails that end in @example.com but are no addr-spec (controls, whitespace, two @)", async () => {
    const gateway = await start(verification)
    for (const email of ["ada\r\nX@example.com", "a b@example.com", "eve@evil.test@example.com"]) {
      const refused = await signInAs(gateway.url, email)
      expect(refused.back.searchParams.get("error"), JSON.stringify(email)).toBe("access_denied")
      expect(refused.back.searchParams.get("code")).toBeNull()
    }
  }, 60_000)
})

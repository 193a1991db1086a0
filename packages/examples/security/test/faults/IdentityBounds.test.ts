/**
 * The size of the identity a hostile IdP asserts, through the real gateway (`Gateway.start`, HTTP
 * on 127.0.0.1) against the fake IdP: a `sub` longer than 255 bytes (OpenID Connect Core §5.1) or an
 * `email` longer than 320 is refused at the callback with an OAuth error the client sees at its
 * redirect URI (with `state` and `iss`), and no code is issued. Before, a 9,000-character subject
 * signed in and every `/mcp` call then answered 401 "The access token is too large".
 */
import type { Gateway } from "@oidc-proxy/node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  backFromIdp,
  bearer,
  gatewayEnv,
  redeem,
  startGateway,
  startTarget,
  type Target,
  toIdp,
} from "./flows.ts"
import { freePort } from "./processes.ts"

let idp: FakeIdp
let target: Target
let gateway: Gateway.Gateway

beforeAll(async () => {
  idp = await startFakeIdp()
  idp.idTokens = true
  target = await startTarget()
  const port = await freePort()
  gateway = await startGateway(
    gatewayEnv(`http://127.0.0.1:${port}`, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_VERIFY_ID_TOKEN: "true",
    }),
  )
}, 30_000)

afterAll(async () => {
  await gateway?.shutdown()
  await target?.close()
  await idp?.close()
})

/** Signs in as `subject` with `claims`; the client's redirect (code or error). */
const signInAs = async (subject: string, claims: Record<string, unknown>) => {
  idp.subject = subject
  idp.claims = claims
  const at = await toIdp(gateway.url, idp)
  return { at, back: await backFromIdp(at) }
}

describe("identity size bounds at the callback", () => {
  it("a 9,000-character sub is refused with server_error at the client's redirect URI, no code", async () => {
    const { back } = await signInAs("s".repeat(9000), {})
    expect(back.searchParams.get("code")).toBeNull()
    expect(back.searchParams.get("error")).toBe("server_error")
    expect(back.searchParams.get("error_description")).toContain("subject is longer than 255 bytes")
    expect(back.searchParams.get("state")).toBe("client-state")
    expect(back.searchParams.get("iss")).toBe(gateway.url)
  })

  it("a 256-byte sub (128 two-byte characters) is refused; 255 ASCII characters sign in and reach the target", async () => {
    const wide = await signInAs("é".repeat(128), {})
    expect(wide.back.searchParams.get("error")).toBe("server_error")
    const { at, back } = await signInAs("s".repeat(255), {})
    const code = back.searchParams.get("code")
    expect(code, back.href).not.toBeNull()
    const tokens = await redeem(gateway.url, at, code!)
    const hits = target.hits()
    expect((await bearer(gateway.url, tokens.access_token)).status).toBe(200)
    expect(target.hits()).toBe(hits + 1)
  })

  it("an email over 320 bytes is refused at the callback; 320 bytes sign in", async () => {
    const long = `${"a".repeat(64)}@${"d".repeat(256)}.example`
    const refused = await signInAs("ada", { email: long, email_verified: true })
    expect(refused.back.searchParams.get("code")).toBeNull()
    expect(refused.back.searchParams.get("error")).toBe("server_error")
    expect(refused.back.searchParams.get("error_description")).toContain("email is longer than 320 bytes")
    const fits = `${"a".repeat(64)}@${"d".repeat(247)}.example`
    expect(fits.length).toBe(320)
    const { at, back } = await signInAs("ada", { email: fits, email_verified: true })
    const code = back.searchParams.get("code")
    expect(code, back.href).not.toBeNull()
    expect((await bearer(gateway.url, (await redeem(gateway.url, at, code!)).access_token)).status).toBe(200)
  })
})

/**
 * Fault: the master secret rotated (`OIDC_PROXY_SECRET=B OIDC_PROXY_PREVIOUS_SECRETS=A`) between
 * two runs of the `oidc-proxy` binary on one SQLite file. Everything made under A keeps working
 * under B: a confidential (`client_secret_basic`) client authenticates at `/token` and `/revoke`,
 * a sign-in in flight (the browser at the IdP) completes through the callback, a code issued
 * under A redeems, a refresh token refreshes (its upstream token set was encrypted under A), and
 * an access token signed under A passes the bearer check. A second rotation to C that drops A
 * (`OIDC_PROXY_SECRET=C OIDC_PROXY_PREVIOUS_SECRETS=B`) refuses everything that only A vouched
 * for — precisely, never with a 500 — and keeps what B made.
 */
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import {
  backFromIdp,
  bearer,
  clientRedirect,
  fakeIdpScenario,
  gatewayEnv,
  masterSecret,
  postToken,
  redeem as redeemPublic,
  register,
  toIdp,
} from "./flows.ts"
import { freePort, spawnGateway } from "./processes.ts"

const secretA = masterSecret
const secretB = "rotated-master-secret-B-0123456789-abcdefghijkl"
const secretC = "rotated-master-secret-C-0123456789-abcdefghijkl"

const scenario = fakeIdpScenario("oidc-proxy-rotation-")

/** A form POST to `url` with HTTP Basic client credentials (RFC 6749 §2.3.1: form-encoded parts). */
const postBasic = async (
  url: string,
  client: { client_id: string; client_secret?: string },
  form: Record<string, string>,
) => {
  const credentials = `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? "")}`
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${Buffer.from(credentials).toString("base64")}`,
    },
    body: new URLSearchParams(form).toString(),
  })
  const text = await res.text()
  return {
    status: res.status,
    text,
    body: (text.startsWith("{") ? JSON.parse(text) : {}) as Record<string, unknown>,
  }
}

describe("fault: SQLite store, the master secret rotated between two runs", () => {
  it("clients, sign-ins in flight, codes, refresh tokens and access tokens made under the old secret keep working", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const store = `sqlite:${join(scenario.dir, "gw.db")}`
    scenario.gateway = await spawnGateway(
      url,
      gatewayEnv(url, scenario.target.url, scenario.idp, store, { OIDC_PROXY_SECRET: secretA }),
    )

    const client = await register(url, "client_secret_basic")
    expect(client.client_secret).toBeTypeOf("string")
    const redeem = (at: { verifier: string }, code: string) =>
      postBasic(`${url}/token`, client, {
        grant_type: "authorization_code",
        code,
        redirect_uri: clientRedirect,
        code_verifier: at.verifier,
      })
    const codeOf = (back: URL) => {
      const code = back.searchParams.get("code")
      expect(code, back.href).not.toBeNull()
      return code!
    }
    // Under A: one completed sign-in (tokens), one code not yet redeemed, one browser at the IdP.
    const done = await toIdp(url, scenario.idp, undefined, client.client_id)
    const first = await redeem(done, codeOf(await backFromIdp(done)))
    expect(first.status, first.text).toBe(200)
    const tokens = first.body as { access_token: string; refresh_token: string }
    const pending = await toIdp(url, scenario.idp, undefined, client.client_id)
    const pendingCode = codeOf(await backFromIdp(pending))
    const inFlight = await toIdp(url, scenario.idp, undefined, client.client_id)

    await scenario.gateway.stop()
    scenario.gateway = await spawnGateway(
      url,
      gatewayEnv(url, scenario.target.url, scenario.idp, store, {
        OIDC_PROXY_SECRET: secretB,
        OIDC_PROXY_PREVIOUS_SECRETS: secretA,
      }),
    )

    const check = await bearer(url, tokens.access_token)
    expect(check.status, `access token signed under A: ${check.text}`).toBe(200)

    const redeemed = await redeem(pending, pendingCode)
    expect(redeemed.status, `code issued under A: ${redeemed.text}`).toBe(200)

    const completed = await redeem(inFlight, codeOf(await backFromIdp(inFlight)))
    expect(completed.status, `sign-in started under A: ${completed.text}`).toBe(200)

    const refreshed = await postBasic(`${url}/token`, client, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
    })
    expect(refreshed.status, `refresh token issued under A: ${refreshed.text}`).toBe(200)
    const renewed = refreshed.body as { access_token: string; refresh_token: string }
    expect((await bearer(url, renewed.access_token)).status).toBe(200)

    const revoked = await postBasic(`${url}/revoke`, client, { token: renewed.refresh_token })
    expect(revoked.status, `revocation by a client registered under A: ${revoked.text}`).toBe(200)
    const afterRevoke = await postBasic(`${url}/token`, client, {
      grant_type: "refresh_token",
      refresh_token: renewed.refresh_token,
    })
    expect(afterRevoke.status, "the revocation took effect").toBe(400)
    expect(scenario.gateway.output()).not.toMatch(/"level":"(ERROR|FATAL)"/i)
  }, 60_000)
})

describe("fault: SQLite store, A → B (A previous) → C (B previous, A dropped)", () => {
  it("what only A vouched for is refused with a precise answer; what B made keeps working", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const store = `sqlite:${join(scenario.dir, "dropped.db")}`
    const run = async (secret: string, previous?: string) => {
      await scenario.gateway?.stop()
      const extra: Record<string, string> = { OIDC_PROXY_SECRET: secret }
      if (previous !== undefined) extra["OIDC_PROXY_PREVIOUS_SECRETS"] = previous
      scenario.gateway = await spawnGateway(
        url,
        gatewayEnv(url, scenario.target.url, scenario.idp, store, extra),
      )
    }
    const signIn = async (clientId?: string) => {
      const at = await toIdp(url, scenario.idp, undefined, clientId)
      const code = (await backFromIdp(at)).searchParams.get("code")
      expect(code).not.toBeNull()
      return { at, code: code! }
    }

    await run(secretA)
    const confidentialA = await register(url, "client_secret_basic")
    const publicA = await signIn()
    const tokensA = await redeemPublic(url, publicA.at, publicA.code)

    await run(secretB, secretA)
    const confidentialB = await register(url, "client_secret_basic")
    const signedB = await signIn(confidentialB.client_id)
    const tokensB = (
      await postBasic(`${url}/token`, confidentialB, {
        grant_type: "authorization_code",
        code: signedB.code,
        redirect_uri: clientRedirect,
        code_verifier: signedB.at.verifier,
      })
    ).body as { access_token: string; refresh_token: string }
    expect(tokensB.access_token).toBeTypeOf("string")

    await run(secretC, secretB)
    // Signed under A: the signature verifies under no configured key.
    const bearerA = await bearer(url, tokensA.access_token)
    expect(bearerA.status, bearerA.text).toBe(401)
    // A refresh token stored under A's hash is found under no configured key's hash.
    const refreshA = await postToken(url, {
      grant_type: "refresh_token",
      refresh_token: tokensA.refresh_token,
      client_id: tokensA.client_id,
    })
    expect(refreshA.status, refreshA.text).toBe(400)
    expect(refreshA.body["error"]).toBe("invalid_grant")
    // A client secret hashed under A: invalid_client at /token and /revoke, never a 500.
    for (const endpoint of ["/token", "/revoke"]) {
      const answer = await postBasic(`${url}${endpoint}`, confidentialA, {
        grant_type: "refresh_token",
        refresh_token: "x",
        token: "x",
      })
      expect(answer.status, `${endpoint}: ${answer.text}`).toBe(401)
      expect(answer.body["error"]).toBe("invalid_client")
    }
    // Made under B (still previous): the access token, the client and its refresh token.
    expect((await bearer(url, tokensB.access_token)).status).toBe(200)
    const refreshB = await postBasic(`${url}/token`, confidentialB, {
      grant_type: "refresh_token",
      refresh_token: tokensB.refresh_token,
    })
    expect(refreshB.status, refreshB.text).toBe(200)
    expect(scenario.gateway!.output()).not.toMatch(/"level":"(ERROR|FATAL)"/i)
  }, 90_000)
})

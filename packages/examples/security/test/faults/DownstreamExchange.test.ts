/**
 * Downstream tokens against a hostile token endpoint, through the `oidc-proxy` binary in front of a
 * recording target, the fake IdP answering each RFC 8693 exchange as the test says
 * (`OIDC_PROXY_DOWNSTREAM_TOKEN=exchange`). An exchanged token the gateway cannot send as a header
 * value — CR/LF (header injection into the forwarded request), a character beyond Latin-1, a Latin-1
 * letter, a space, or more than 16 KiB — is a 502 `bad_gateway`: it never reaches the target, is not
 * held, and no part of it is logged; so is such an opaque upstream token with `upstream`. Before,
 * the forwarded request's `Headers` refused the first two (a 502 "target unreachable" and an error
 * line quoting the start of the token), the Latin-1 and spaced tokens reached the target as they
 * were, and the 20 KiB one was held and forwarded until the target refused the request (431).
 *
 * Also the attacks that hold: a caller's own copies of the token header, in any spelling, never
 * reach the target beside the exchanged one; concurrent sessions of two users each get their own
 * token (one exchange per session); after `/revoke` the held token is not forwarded again; a
 * trickling answer is a 503 within the 5 s bound; a redirect (to another origin, which would
 * receive the client secret), an endless body, a `token_type` other than Bearer, a 200 carrying an
 * error, a string `expires_in` are each a 502 with nothing forwarded; and neither the client secret
 * nor a token appears in the gateway's output.
 */
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type ExchangeMode, type Sink, startSink } from "./FakeIdp.ts"
import { bearer, fakeIdpScenario, gatewayEnv, signIn } from "./flows.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

const scenario = fakeIdpScenario("oidc-proxy-downstream-")
let url = ""
let sink: Sink

beforeAll(async () => {
  sink = await startSink({ keys: [] })
  url = `http://127.0.0.1:${await freePort()}`
  scenario.gateway = await spawnGateway(
    url,
    gatewayEnv(url, scenario.target.url, scenario.idp, `sqlite:${join(scenario.dir, "gw.db")}`, {
      OIDC_PROXY_DOWNSTREAM_TOKEN: "exchange",
      OIDC_PROXY_EXCHANGE_AUDIENCE: "urn:downstream",
      OIDC_PROXY_LOG_LEVEL: "debug",
    }),
  )
  return () => sink.close()
}, 30_000)

const unusableAnswer = "The token from the identity provider for the protected resource could not be used"

const answer = (access_token: string): ExchangeMode => ({
  status: 200,
  answer: { access_token, token_type: "Bearer", expires_in: 300 },
})

/**
 * A fresh session (a fresh upstream token, so nothing held) whose exchange gets `mode`: the
 * gateway's answer to one MCP call, and whether the target saw it.
 */
const callWith = async (mode: ExchangeMode) => {
  const idp = scenario.idp
  idp.exchangeMode = "ok"
  const tokens = await signIn(url, idp)
  idp.exchangeMode = mode
  const exchanges = idp.counts.exchange
  const hits = scenario.target.hits()
  const result = await bearer(url, tokens.access_token)
  idp.exchangeMode = "ok"
  return {
    ...result,
    asked: idp.counts.exchange - exchanges,
    forwarded: scenario.target.hits() - hits,
    access_token: tokens.access_token,
  }
}

describe("an exchanged token that is no header value is refused, never forwarded, never logged", () => {
  const unsendable: ReadonlyArray<readonly [string, string]> = [
    ["CR/LF (header injection)", "leak!me!\r\nX-Injected: 1"],
    ["a character beyond Latin-1", "leak!me!\u20ac"],
    ["a Latin-1 letter", "leak!me!\u00e9"],
    ["a space", "leak!me! two"],
    ["more than 16 KiB", `leak!me!${"a".repeat(20_000)}`],
  ]
  it.each(unsendable)("%s: 502 bad_gateway, nothing reaches the target, nothing held", async (_, token) => {
    const first = await callWith(answer(token))
    expect(first.status).toBe(502)
    expect(JSON.parse(first.text)).toEqual({ error: "bad_gateway", error_description: unusableAnswer })
    expect(first.asked).toBe(1)
    expect(first.forwarded).toBe(0)
    // Not held: the same session's next call asks the IdP again.
    scenario.idp.exchangeMode = answer(token)
    const before = scenario.idp.counts.exchange
    const again = await bearer(url, first.access_token)
    scenario.idp.exchangeMode = "ok"
    expect(again.status).toBe(502)
    expect(scenario.idp.counts.exchange).toBe(before + 1)
    expect(scenario.target.seen.some((s) => s.headers["x-injected"] !== undefined)).toBe(false)
    expect(scenario.gateway!.output()).not.toContain("leak!me!")
  })
})

describe("attacks that hold", () => {
  it("the target gets the exchanged token alone: the caller's copies in any spelling are dropped", async () => {
    const idp = scenario.idp
    const tokens = await signIn(url, idp)
    const res = await fetch(`${url}/mcp`, {
      method: "POST",
      headers: [
        ["authorization", `Bearer ${tokens.access_token}`],
        ["x-forwarded-access-token", "forged-1"],
        ["X_Forwarded_Access_Token", "forged-2"],
        ["x.forwarded.access.token", "forged-3"],
        ["content-type", "application/json"],
      ],
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    })
    expect(res.status).toBe(200)
    const seen = scenario.target.seen.at(-1)!
    expect(seen.headers["x-forwarded-access-token"]).toBe(idp.exchanged.at(-1))
    const names = Object.keys(seen.headers)
    expect(names.filter((n) => n.replace(/[^a-z]/g, "") === "xforwardedaccesstoken")).toEqual([
      "x-forwarded-access-token",
    ])
    expect(seen.headers.authorization).toBeUndefined()
    expect(JSON.stringify(seen.headers)).not.toContain("forged")
  })

  it("concurrent sessions of two users each get their own exchanged token, one exchange per session", async () => {
    const idp = scenario.idp
    idp.subject = "ada"
    const ada = await signIn(url, idp)
    idp.subject = "bob"
    const bob = await signIn(url, idp)
    idp.subject = "ada"
    const exchanges = idp.counts.exchange
    const calls = Array.from({ length: 16 }, (_, i) =>
      i % 2 === 0 ? (["ada", ada] as const) : (["bob", bob] as const),
    )
    const statuses = await Promise.all(
      calls.map(async ([caller, tokens]) => {
        const res = await fetch(`${url}/mcp`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${tokens.access_token}`,
            "content-type": "application/json",
            "x-caller": caller,
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        })
        await res.arrayBuffer()
        return res.status
      }),
    )
    expect(statuses).toEqual(calls.map(() => 200))
    expect(idp.counts.exchange - exchanges).toBe(2)
    const seen = scenario.target.seen.filter((s) => s.headers["x-caller"] !== undefined)
    expect(seen).toHaveLength(16)
    for (const s of seen)
      expect(s.headers["x-forwarded-access-token"]).toMatch(
        new RegExp(`^exchanged-${s.headers["x-caller"]}-`),
      )
  })

  it("after /revoke of the refresh token, the held exchanged token is not forwarded again", async () => {
    const tokens = await signIn(url, scenario.idp)
    expect((await bearer(url, tokens.access_token)).status).toBe(200)
    const revoked = await fetch(`${url}/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: tokens.refresh_token, client_id: tokens.client_id }).toString(),
    })
    expect(revoked.status).toBe(200)
    const hits = scenario.target.hits()
    expect((await bearer(url, tokens.access_token)).status).toBe(401)
    expect(scenario.target.hits()).toBe(hits)
  })

  it("a trickling exchange answer is 503 temporarily_unavailable within the bound, nothing forwarded", async () => {
    const result = await callWith("trickle")
    expect(result.status).toBe(503)
    expect(result.error).toBe("temporarily_unavailable")
    expect(result.forwarded).toBe(0)
  }, 20_000)

  const unusable: ReadonlyArray<readonly [string, ExchangeMode]> = [
    ["a redirect to another origin", { redirect: 307 }],
    ["an endless body", "endless"],
    ["token_type N_A", { status: 200, answer: { access_token: "leak!me!", token_type: "N_A" } }],
    ["a 200 carrying an error", { status: 200, answer: { error: "invalid_request" } }],
    [
      "a string expires_in",
      { status: 200, answer: { access_token: "leak!me!", token_type: "Bearer", expires_in: "300" } },
    ],
  ]
  it.each(unusable)("%s: 502 bad_gateway, nothing forwarded", async (_, mode) => {
    scenario.idp.redirectTo = sink.url
    const result = await callWith(mode)
    scenario.idp.redirectTo = undefined
    expect(result.status).toBe(502)
    expect(JSON.parse(result.text)).toEqual({ error: "bad_gateway", error_description: unusableAnswer })
    expect(result.forwarded).toBe(0)
    expect(sink.received).toEqual([])
  })

  it("the gateway's output (debug level) holds no client secret, no exchanged token, no upstream or proxy token", () => {
    const output = scenario.gateway!.output()
    expect(output).toContain("downstream token not obtained")
    expect(output).not.toContain(scenario.idp.clientSecret)
    expect(output).not.toContain("leak!me!")
    for (const token of scenario.idp.exchanged) expect(output).not.toContain(token)
    expect(output).not.toMatch(/eyJ[\w-]{10,}\.eyJ/)
  })
})

describe("OIDC_PROXY_DOWNSTREAM_TOKEN=upstream with an opaque upstream token that is no header value", () => {
  let upstreamGateway: GatewayProcess | undefined
  let upstreamUrl = ""

  beforeAll(async () => {
    upstreamUrl = `http://127.0.0.1:${await freePort()}`
    upstreamGateway = await spawnGateway(
      upstreamUrl,
      gatewayEnv(
        upstreamUrl,
        scenario.target.url,
        scenario.idp,
        `sqlite:${join(scenario.dir, "gw-upstream.db")}`,
        {
          OIDC_PROXY_DOWNSTREAM_TOKEN: "upstream",
          // The access token is opaque to the gateway: the id_token proves the identity.
          OIDC_PROXY_VERIFY_ID_TOKEN: "true",
          OIDC_PROXY_LOG_LEVEL: "warn",
        },
      ),
    )
    return async () => {
      scenario.idp.opaqueAccessToken = undefined
      await upstreamGateway?.stop("SIGKILL")
    }
  }, 30_000)

  it("CR/LF in it: 502 bad_gateway, nothing reaches the target, no part of it logged", async () => {
    scenario.idp.opaqueAccessToken = "up!leak!\r\nX-Injected: 1"
    const tokens = await signIn(upstreamUrl, scenario.idp)
    scenario.idp.opaqueAccessToken = undefined
    const hits = scenario.target.hits()
    const result = await bearer(upstreamUrl, tokens.access_token)
    expect(result.status).toBe(502)
    expect(JSON.parse(result.text)).toEqual({ error: "bad_gateway", error_description: unusableAnswer })
    expect(scenario.target.hits()).toBe(hits)
    expect(upstreamGateway!.output()).toContain("downstream token not obtained")
    expect(upstreamGateway!.output()).not.toContain("up!leak!")
  })

  it("an ordinary opaque token is forwarded as is", async () => {
    scenario.idp.opaqueAccessToken = "opaque.upstream-token_0123456789"
    const tokens = await signIn(upstreamUrl, scenario.idp)
    scenario.idp.opaqueAccessToken = undefined
    expect((await bearer(upstreamUrl, tokens.access_token)).status).toBe(200)
    expect(scenario.target.seen.at(-1)!.headers["x-forwarded-access-token"]).toBe(
      "opaque.upstream-token_0123456789",
    )
  })
})

/**
 * Downstream tokens (`OIDC_PROXY_DOWNSTREAM_TOKEN=exchange`) against a hostile token endpoint,
 * through the `oidc-proxy` binary in front of a recording target, the fake IdP answering each RFC
 * 8693 exchange as the test says. An exchanged token the gateway cannot send as a header value —
 * CR/LF (header injection into the forwarded request), a character beyond Latin-1, a Latin-1
 * letter, a space, or more than 16 KiB — is the documented 502 `bad_gateway` of an unusable
 * exchange answer: it never reaches the target, is not held, and no part of it is logged. Before,
 * the forwarded request's `Headers` refused the first two (a 502 "target unreachable" and an error
 * line quoting the start of the token), the Latin-1 token reached the target as a raw byte, and the
 * 20 KiB one was held and forwarded until the target refused the request (431).
 *
 * Also the attacks that hold: a caller's own copies of the token header, in any spelling, never
 * reach the target beside the exchanged one; a redirect (to another origin, which would receive the
 * client secret), an endless body, a `token_type` other than Bearer, a 200 carrying an error, a
 * string `expires_in` are each a 502 with nothing forwarded; and neither the client secret nor a
 * token appears in the gateway's output.
 */
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { type ExchangeMode, type Sink, startSink } from "./FakeIdp.ts"
import { bearer, fakeIdpScenario, gatewayEnv, signIn } from "./flows.ts"
import { freePort, spawnGateway } from "./processes.ts"

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
      OIDC_PROXY_LOG_LEVEL: "warn",
    }),
  )
  return () => sink.close()
}, 30_000)

const unusableAnswer = "The identity provider's token exchange answer could not be used"

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

  it("the gateway's output holds no client secret, no exchanged token, no upstream or proxy token", () => {
    const output = scenario.gateway!.output()
    expect(output).toContain("downstream token not obtained")
    expect(output).not.toContain(scenario.idp.clientSecret)
    expect(output).not.toContain("leak!me!")
    for (const token of scenario.idp.exchanged) expect(output).not.toContain(token)
    expect(output).not.toMatch(/eyJ[\w-]{10,}\.eyJ/)
  })
})

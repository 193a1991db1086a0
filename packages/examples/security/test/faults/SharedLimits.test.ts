/**
 * Rate limits shared by several instances: two `oidc-proxy` binaries (child processes) on one
 * `redis-server`, with the same issuer, against the fake IdP. One source's `/token` budget
 * (`OIDC_PROXY_TOKEN_QUOTA`) and one subject's budget on the protected resource
 * (`OIDC_PROXY_MCP_QUOTA`) are spent on A; B then answers 429 with `Retry-After`, on its general
 * path and on its fast path (a bearer it remembers) alike, while another subject still gets through.
 *
 * The windows are fixed minutes: a scenario that would straddle a minute's end waits for the next
 * one first, so both instances count in the same window.
 */
import { afterAll, beforeAll, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { postToken, signIn, spawnAgainst, startTarget, type Target } from "./flows.ts"
import {
  describeWithRedis,
  freePort,
  type GatewayProcess,
  type RedisServer,
  redisServer,
  sleep,
} from "./processes.ts"

/** Waits for the next minute when less than 20 s of this one are left. */
const awayFromWindowEnd = async () => {
  const into = Date.now() % 60_000
  if (into > 40_000) await sleep(60_000 - into + 200)
}

describeWithRedis("rate limits shared by two gateways on one Redis", () => {
  let redis: RedisServer
  let idp: FakeIdp
  let target: Target
  let a: GatewayProcess
  let b: GatewayProcess

  beforeAll(async () => {
    redis = redisServer(await freePort())
    await redis.start()
    idp = await startFakeIdp()
    target = await startTarget()
    const aPort = await freePort()
    const issuer = `http://127.0.0.1:${aPort}`
    const extra = { OIDC_PROXY_TOKEN_QUOTA: "6", OIDC_PROXY_MCP_QUOTA: "3" }
    a = await spawnAgainst(idp, target, extra, { store: redis.url, port: aPort })
    b = await spawnAgainst(idp, target, extra, { store: redis.url, baseUrl: issuer })
  }, 60_000)

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await redis?.stop()
    await target?.close()
    await idp?.close()
  })

  const mcp = (url: string, token: string) =>
    fetch(`${url}/mcp`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" })

  it("one subject's budget on the protected resource is spent on A, then B answers 429", async () => {
    await awayFromWindowEnd()
    idp.subject = "ada"
    const ada = await signIn(a.url, idp)
    idp.subject = "bob"
    const bob = await signIn(a.url, idp)
    // A twice (its general path, then its fast path), B once (its general path): the budget of 3.
    for (const url of [a.url, a.url, b.url]) expect((await mcp(url, ada.access_token)).status).toBe(200)
    const refused = await mcp(b.url, ada.access_token)
    expect(refused.status).toBe(429)
    const retryAfter = Number(refused.headers.get("retry-after"))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(61)
    expect(await refused.json()).toMatchObject({ error: "temporarily_unavailable" })
    expect((await mcp(a.url, ada.access_token)).status).toBe(429)
    // Another subject has a budget of its own.
    expect((await mcp(b.url, bob.access_token)).status).toBe(200)
  })

  it("one source's /token budget is spent on A, then B answers 429", async () => {
    await awayFromWindowEnd()
    const bad = { grant_type: "refresh_token", refresh_token: "not-a-token", client_id: "nobody" }
    const statuses: Array<number> = []
    for (let i = 0; i < 10 && !statuses.includes(429); i++)
      statuses.push((await postToken(a.url, bad)).status)
    // A spent the rest of this minute's budget of 6 (earlier sign-ins in this minute count too).
    expect(statuses.at(-1)).toBe(429)
    expect(statuses.slice(0, -1).every((s) => s === 400 || s === 401)).toBe(true)
    const res = await fetch(`${b.url}/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(bad).toString(),
    })
    expect(res.status).toBe(429)
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    expect(await res.json()).toMatchObject({ error: "temporarily_unavailable" })
  })
})

/**
 * Rate limits shared by several instances: two `oidc-proxy` binaries (child processes) on one
 * `redis-server`, with the same issuer, against the fake IdP. One source's `/token` budget
 * (`OIDC_PROXY_TOKEN_QUOTA`) and one subject's budget on the protected resource
 * (`OIDC_PROXY_MCP_QUOTA`) are spent on A; B then answers 429 with `Retry-After`, on its general
 * path and on its fast path (a bearer it remembers) alike, while another subject still gets through.
 * Behind a trusted proxy (`OIDC_PROXY_TRUSTED_PROXIES`; requests from 127.0.0.2 stand for it), a
 * forwarded client's `/register` budget is shared by both instances, apart from the other clients'.
 *
 * The windows are fixed minutes: a scenario that would straddle a minute's end waits for the next
 * one first, so both instances count in the same window.
 */
import { request } from "node:http"
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
    const extra = {
      OIDC_PROXY_TOKEN_QUOTA: "6",
      OIDC_PROXY_MCP_QUOTA: "3",
      OIDC_PROXY_REGISTRATION_QUOTA: "4",
      OIDC_PROXY_TRUSTED_PROXIES: "127.0.0.2",
    }
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

  /** `POST /register` at `url` from 127.0.0.2 (the trusted proxy), forwarding for `client`. */
  const registerVia = (url: string, client: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ redirect_uris: ["http://127.0.0.1:3000/cb"], client_name: "fwd" })
      const req = request(`${url}/register`, {
        method: "POST",
        localAddress: "127.0.0.2",
        agent: false,
        timeout: 5000,
        headers: { "content-type": "application/json", "x-forwarded-for": client },
      })
      req.on("response", (res) => {
        res.resume()
        res.on("end", () => resolve(res.statusCode ?? 0))
      })
      req.on("timeout", () => req.destroy(new Error("no answer within 5 s")))
      req.on("error", reject)
      req.end(body)
    })

  it("behind a trusted proxy, one forwarded client's /register budget is spent on A and B together", async () => {
    // An hour's end is also a minute's: away from one, the six requests share an hourly window.
    await awayFromWindowEnd()
    const statuses: Array<number> = []
    for (const url of [a.url, b.url, a.url, b.url, b.url, a.url])
      statuses.push(await registerVia(url, "198.51.100.7"))
    expect(statuses).toEqual([201, 201, 201, 201, 429, 429])
    // Another client behind the same proxy has a budget of its own, on either instance.
    expect(await registerVia(b.url, "198.51.100.8")).toBe(201)
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

/**
 * Several instances: two real gateways (A and B, `Gateway.start` from the environment) sharing one
 * store — a `redis-server`, then a PostgreSQL server — behind one front address that forwards each request to A or B (a load balancer
 * stand-in), against the fake IdP. Both have the front's URL as their issuer, so the browser's
 * binding cookie is the front host's, as in production.
 *
 * A sign-in started on A (authorize, consent) completes on B (callback, token); a token issued by
 * A works on B; a token revoked through B is refused by A as soon as B's eviction reaches it over
 * Redis pub/sub (`RedisCacheInvalidation`) or Postgres LISTEN/NOTIFY (`PostgresCacheInvalidation`), not after A's verified-token cache entry expires: both
 * gateways remember verified tokens for 300 s here, and A must refuse within 5 s.
 */
import { Gateway } from "@oidc-proxy/node"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  backFromIdp,
  bearer,
  configOf,
  gatewayEnv,
  redeem,
  signIn,
  startTarget,
  type Target,
  toIdp,
} from "./flows.ts"
import {
  describeWithPostgres,
  describeWithRedis,
  type Front,
  freePort,
  postgresServer,
  redisServer,
  roundRobinFront,
  waitFor,
} from "./processes.ts"

/** The gateways' `cache_ttl_seconds` here: long, so only the invalidation message can make A refuse. */
const cacheTtlSeconds = 300
/** The bound asserted for the other instance: one pub/sub (NOTIFY) hop, with room for a loaded machine. */
const invalidationBoundMs = 5_000

const startGateway = (env: Record<string, string>) => {
  const config = configOf(env)
  return Gateway.start({ ...config, proxy: { ...config.proxy, cache_ttl_seconds: cacheTtlSeconds } })
}

/** A store server the test starts and stops: its `OIDC_PROXY_STORE` URL once started. */
interface StoreServer {
  readonly url: string
  readonly start: () => Promise<void>
  readonly stop: () => Promise<void>
}

const severalInstances = (
  name: string,
  describeWith: (name: string, body: () => void) => void,
  makeStore: (port: number) => StoreServer,
) =>
  describeWith(`several instances sharing one ${name}`, () => {
    let store: StoreServer
    let idp: FakeIdp
    let target: Target
    let front: Front
    let a: Gateway.Gateway
    let b: Gateway.Gateway

    beforeAll(async () => {
      store = makeStore(await freePort())
      await store.start()
      idp = await startFakeIdp()
      target = await startTarget()
      const [frontPort, aPort, bPort] = [await freePort(), await freePort(), await freePort()]
      const frontUrl = `http://127.0.0.1:${frontPort}`
      const env = (port: number) =>
        gatewayEnv(frontUrl, target.url, idp, store.url, { OIDC_PROXY_LISTEN: `127.0.0.1:${port}` })
      a = await startGateway(env(aPort))
      b = await startGateway(env(bPort))
      front = await roundRobinFront(frontPort, [`127.0.0.1:${aPort}`, `127.0.0.1:${bPort}`])
    }, 30_000)

    afterAll(async () => {
      await front?.close()
      await Promise.all([a?.shutdown(), b?.shutdown()])
      await store?.stop()
      await target?.close()
      await idp?.close()
    })

    it("a sign-in started on A (authorize, consent) completes on B (callback, token)", async () => {
      front.served.length = 0
      front.route = 0
      const at = await toIdp(front.url, idp)
      front.route = 1
      const back = await backFromIdp(at)
      const code = back.searchParams.get("code")
      expect(code, back.href).not.toBeNull()
      const tokens = await redeem(front.url, at, code!)
      const on = (path: string) => [
        ...new Set(front.served.filter((s) => s.path === path).map((s) => s.backend)),
      ]
      expect(on("/register")).toEqual([0])
      expect(on("/authorize")).toEqual([0])
      expect(on("/consent")).toEqual([0])
      expect(on("/auth/callback")).toEqual([1])
      expect(on("/token")).toEqual([1])
      for (const gateway of [a, b]) expect((await bearer(gateway.url, tokens.access_token)).status).toBe(200)
    }, 30_000)

    it("round robin per request - every step on the other instance than the one before, the flow completes", async () => {
      front.served.length = 0
      front.route = "alternate"
      const tokens = await signIn(front.url, idp)
      const backends = front.served.map((s) => s.backend)
      expect(backends.length).toBeGreaterThanOrEqual(5) // register, authorize, consent, callback, token
      for (let i = 1; i < backends.length; i++) expect(backends[i]).not.toBe(backends[i - 1])
      for (const gateway of [a, b]) expect((await bearer(gateway.url, tokens.access_token)).status).toBe(200)
    }, 30_000)

    it("a token issued by A works on B; revoked through B, A refuses it within 5 s (cache TTL 300 s)", async () => {
      front.route = 0
      const tokens = await signIn(front.url, idp)
      expect((await bearer(a.url, tokens.access_token)).status).toBe(200) // now in A's cache
      expect((await bearer(b.url, tokens.access_token)).status).toBe(200)
      const revoked = await fetch(`${b.url}/revoke`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: tokens.refresh_token, client_id: tokens.client_id }).toString(),
      })
      const at = performance.now()
      expect(revoked.status).toBe(200)
      const onB = await bearer(b.url, tokens.access_token)
      expect(onB.status, "refused at once by the instance that revoked").toBe(401)
      const refusedAfter = await waitFor(
        "A refuses the revoked token",
        async () => {
          const res = await bearer(a.url, tokens.access_token)
          if (res.status === 200) return undefined
          expect(res.status, res.text).toBe(401)
          return performance.now() - at
        },
        { timeoutMs: invalidationBoundMs, intervalMs: 20 },
      )
      expect(refusedAfter).toBeLessThan(invalidationBoundMs)
      // And it stays refused (no instance brings it back), as does its refresh token, on both.
      for (const gateway of [a, b]) {
        expect((await bearer(gateway.url, tokens.access_token)).status).toBe(401)
        const res = await fetch(`${gateway.url}/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "refresh_token",
            refresh_token: tokens.refresh_token,
            client_id: tokens.client_id,
          }).toString(),
        })
        expect(res.status).toBe(400)
      }
    }, 30_000)
  })

severalInstances("Redis", describeWithRedis, (port) => redisServer(port))
severalInstances("Postgres", describeWithPostgres, (port) => {
  const server = postgresServer(port)
  return { url: server.url, start: server.start, stop: server.destroy }
})

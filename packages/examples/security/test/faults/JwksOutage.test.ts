/**
 * Fault: the IdP's JWKS endpoint goes away (503, then connection refused) while the rest of the IdP
 * stays up. The real gateway over HTTP on 127.0.0.1 (`Gateway.start`) against the fake IdP: keys
 * fetched before the outage keep verifying upstream tokens on the cold path (tokens never
 * presented before, and the verified-token cache off), also past the JWKS cache's max age
 * (stale-if-error); an instance that never fetched the keys fails closed with 503, never 401 or 200.
 */
import { Store } from "@oidc-proxy/core"
import { type Gateway, ProxyLayer } from "@oidc-proxy/node"
import { type Duration, Effect, Layer } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { bearer, configOf, gatewayEnv, signIn, startGateway, startTarget, type Target } from "./flows.ts"
import { freePort, sleep } from "./processes.ts"

let idp: FakeIdp
let target: Target
const running: Array<Gateway.Gateway> = []

beforeAll(async () => {
  idp = await startFakeIdp()
  target = await startTarget()
})

afterEach(async () => {
  await idp.setJwks("ok")
  await Promise.all(running.splice(0).map((g) => g.shutdown()))
})

afterAll(async () => {
  await target?.close()
  await idp?.close()
})

/**
 * A gateway at `baseUrl` listening on `port`, over `store`, with the upstream client's JWKS options
 * and proxy configuration overrides.
 */
const gatewayOn = async (
  baseUrl: string,
  port: number,
  store: Layer.Layer<Store.Store>,
  options: {
    readonly jwks?: {
      cacheMaxAge?: Duration.Input
      cacheMinAge?: Duration.Input
      cooldownDuration?: Duration.Input
    }
    readonly proxy?: Record<string, unknown>
  } = {},
) => {
  const env = gatewayEnv(baseUrl, target.url, idp, "memory", { OIDC_PROXY_LISTEN: `127.0.0.1:${port}` })
  const config = configOf(env)
  const services = Layer.merge(
    ProxyLayer.layer({
      config: { ...config.proxy, ...options.proxy },
      secrets: config.secrets,
      store,
      upstream: { client_secret: config.upstream.client_secret, ...options.jwks },
    }),
    store,
  )
  const gateway = await startGateway(env, { services })
  running.push(gateway)
  return gateway
}

const sharedStore = () => Layer.succeed(Store.Store, Effect.runSync(Store.makeMemory))

describe("fault: the IdP's JWKS unreachable", () => {
  it("shipped JWKS cache - tokens never presented before still verify with the cached keys; a fresh instance sharing the store fails closed (503)", async () => {
    const store = sharedStore()
    const port = await freePort()
    const baseUrl = `http://127.0.0.1:${port}`
    const a = await gatewayOn(baseUrl, port, store)
    const first = await signIn(a.url, idp)
    expect((await bearer(a.url, first.access_token)).status).toBe(200)
    const second = await signIn(a.url, idp) // never presented as a bearer before the outage
    const fetched = idp.counts.jwks
    expect(fetched).toBeGreaterThan(0)
    for (const mode of ["503", "refused"] as const) {
      await idp.setJwks(mode)
      const check = await bearer(a.url, second.access_token)
      expect(check.status, `${mode}: ${check.text}`).toBe(200)
    }
    // A new instance over the same store has no keys cached: it can't verify, so it must not say
    // 200, and must not say 401 either (the client would drop a good token): 503, retry later.
    const bPort = await freePort()
    const b = await gatewayOn(baseUrl, bPort, store)
    const cold = await bearer(b.url, first.access_token)
    expect(cold.status, cold.text).toBe(503)
    expect(cold.error).toBe("temporarily_unavailable")
    expect(cold.retryAfter).not.toBeNull()
    // The JWKS is back: the new instance fetches it and recovers by itself.
    await idp.setJwks("ok")
    const recovered = await bearer(b.url, first.access_token)
    expect(recovered.status, recovered.text).toBe(200)
  }, 30_000)

  it("past the JWKS cache's max age (1 s), verified-token cache off - every cold check keeps verifying with the stale keys (stale-if-error), and the proxy did try to refetch", async () => {
    const port = await freePort()
    const a = await gatewayOn(`http://127.0.0.1:${port}`, port, sharedStore(), {
      jwks: { cacheMaxAge: "1 second", cacheMinAge: "0 seconds", cooldownDuration: "300 millis" },
      proxy: { cache_ttl_seconds: 0 },
    })
    const first = await signIn(a.url, idp)
    expect((await bearer(a.url, first.access_token)).status).toBe(200)
    const second = await signIn(a.url, idp)
    for (const mode of ["503", "refused"] as const) {
      await idp.setJwks(mode)
      const attempts = idp.counts.jwks
      await sleep(1_300) // the cached set is now past its max age
      for (const token of [first.access_token, second.access_token, first.access_token]) {
        const check = await bearer(a.url, token)
        expect(check.status, `${mode}: ${check.text}`).toBe(200)
      }
      // With 503 the refetch reaches the IdP (and is refused); with a closed port it never arrives.
      if (mode === "503") expect(idp.counts.jwks, "the proxy tried to refetch").toBeGreaterThan(attempts)
    }
  }, 30_000)
})

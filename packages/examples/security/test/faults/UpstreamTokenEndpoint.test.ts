/**
 * Fault: the IdP's token endpoint hangs or answers 5xx, with the real gateway over HTTP on
 * 127.0.0.1 (`Gateway.start`, the upstream client's shipped 5-second timeout) against the fake
 * IdP. At the callback the client is redirected with a clear error within the bound and nothing is
 * stored half-way (no code, no upstream token set, no family); at refresh, once the upstream access
 * token has expired, the client gets 503 `temporarily_unavailable` within the bound, nothing is
 * rotated, and its refresh token still works once the IdP is back.
 */

import { Store } from "@oidc-proxy/core"
import type { Gateway } from "@oidc-proxy/node"
import { ProxyLayer } from "@oidc-proxy/node"
import { Effect, Layer, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  backFromIdp,
  bearer,
  clientRedirect,
  configOf,
  gatewayEnv,
  refresh,
  signIn,
  startGateway,
  startTarget,
  type Target,
  toIdp,
} from "./flows.ts"
import { freePort, sleep } from "./processes.ts"

/** The upstream client's default time limit per call (UpstreamHttp `timeoutDuration`). */
const upstreamTimeoutMs = 5_000
/** What a timed-out request may take beyond the limit on a loaded 2-core CI machine. */
const marginMs = 2_500

/** A memory store whose live keys the test can list. */
const observableStore = () => {
  const memory = Effect.runSync(Store.makeMemory)
  const written = new Set<string>()
  const store = Store.Store.of({
    get: memory.get,
    set: (key, value, ttl) =>
      Effect.andThen(
        Effect.sync(() => written.add(key)),
        memory.set(key, value, ttl),
      ),
    delete: memory.delete,
    take: memory.take,
    setIfAbsent: (key, value, ttl) =>
      Effect.andThen(
        Effect.sync(() => written.add(key)),
        memory.setIfAbsent(key, value, ttl),
      ),
  })
  // Quota slots count requests (a refused /token request is counted too); they are not records.
  const keys = async () => {
    const live: Array<string> = []
    for (const key of [...written].sort())
      if (!key.startsWith("quota:") && Option.isSome(await Effect.runPromise(memory.get(key)))) live.push(key)
    return live
  }
  return { layer: Layer.succeed(Store.Store, store), keys }
}

let idp: FakeIdp
let target: Target
let gateway: Gateway.Gateway
const store = observableStore()

beforeAll(async () => {
  idp = await startFakeIdp()
  target = await startTarget()
  const url = `http://127.0.0.1:${await freePort()}`
  const config = configOf(gatewayEnv(url, target.url, idp, "memory"))
  // The shipped proxy over an observable store; the upstream options are the defaults.
  const services = Layer.merge(
    ProxyLayer.layer({
      config: config.proxy,
      secrets: config.secrets,
      store: store.layer,
      upstream: { client_secret: config.upstream.client_secret },
    }),
    store.layer,
  )
  gateway = await startGateway(gatewayEnv(url, target.url, idp, "memory"), { services })
})

afterAll(async () => {
  await gateway?.shutdown()
  await target?.close()
  await idp?.close()
})

const timed = async <A>(run: () => Promise<A>) => {
  const started = performance.now()
  const value = await run()
  return { value, ms: performance.now() - started }
}

describe("fault: the upstream token endpoint at the callback", () => {
  for (const [mode, expected] of [
    ["hang", "temporarily_unavailable"],
    ["500", "temporarily_unavailable"],
  ] as const) {
    it(`token endpoint ${mode === "hang" ? "never answers" : "answers 500"} - the client is redirected with error=${expected} within the bound; nothing stored half-way`, async () => {
      idp.tokenMode = "ok"
      const at = await toIdp(gateway.url, idp)
      const before = await store.keys()
      expect(before.filter((k) => k.startsWith("txn:"))).toHaveLength(1)
      idp.tokenMode = mode
      const exchanges = idp.counts.code
      const { value: back, ms } = await timed(() => backFromIdp(at))
      idp.tokenMode = "ok"
      expect(idp.counts.code, "the proxy did call the token endpoint").toBe(exchanges + 1)
      expect(`${back.origin}${back.pathname}`).toBe(clientRedirect)
      expect(back.searchParams.get("error")).toBe(expected)
      expect(back.searchParams.get("state")).toBe("client-state")
      expect(back.searchParams.get("code")).toBeNull()
      expect(back.searchParams.get("error_description") ?? "").not.toMatch(/127\.0\.0\.1|secret|token/i)
      expect(ms).toBeLessThan(upstreamTimeoutMs + marginMs)
      if (mode === "hang") expect(ms).toBeGreaterThan(upstreamTimeoutMs - 500)
      // Only the transaction is gone (taken once): no code, no upstream set, no family, no jti.
      expect(await store.keys()).toEqual(before.filter((k) => !k.startsWith("txn:")))
    }, 30_000)
  }
})

describe("fault: the upstream token endpoint at refresh", () => {
  it("hangs, then answers 503 - 503 temporarily_unavailable within the bound, nothing rotated; the refresh token works afterwards", async () => {
    idp.tokenMode = "ok"
    // A refresh needs the IdP only once the upstream access token has expired (while it is still
    // valid, a failed upstream refresh is retried later and the request is served): upstream
    // tokens live 1 s here, and the test waits them out.
    idp.expiresIn = 1
    try {
      const tokens = await signIn(gateway.url, idp)
      const before = await store.keys()
      await sleep(2_100)
      for (const mode of ["hang", "503"] as const) {
        idp.tokenMode = mode
        const refreshes = idp.counts.refresh
        const { value: res, ms } = await timed(() => refresh(gateway.url, tokens))
        expect(res.status, res.text).toBe(503)
        expect(res.body["error"]).toBe("temporarily_unavailable")
        expect(res.headers.get("retry-after")).not.toBeNull()
        expect(res.text).not.toContain(idp.issuer)
        expect(idp.counts.refresh, "the proxy did call the token endpoint").toBe(refreshes + 1)
        expect(ms).toBeLessThan(upstreamTimeoutMs + marginMs)
        if (mode === "hang") expect(ms).toBeGreaterThan(upstreamTimeoutMs - 500)
        // The refresh token was given back: same live records, nothing rotated, no new jti.
        expect(await store.keys(), `after ${mode}`).toEqual(before)
      }
      idp.tokenMode = "ok"
      const res = await refresh(gateway.url, tokens)
      expect(res.status, res.text).toBe(200)
      const check = await bearer(gateway.url, res.body["access_token"] as string)
      expect(check.status, check.text).toBe(200)
    } finally {
      idp.tokenMode = "ok"
      idp.expiresIn = 3600
    }
  }, 35_000)
})

/**
 * Fault: the `oidc-proxy` binary on `sqlite:<tmp>/gw.db` killed with SIGKILL under load, then
 * started again with the same environment. The binary is a child process against the fake IdP;
 * several clients sign in through it (DCR, consent, callback, token); a bounded load of concurrent
 * bearer checks, registrations and refreshes of a separate session is running when the process
 * is killed. After the restart, every token issued before the kill passes the bearer check and every
 * refresh token issued before it still refreshes.
 */
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import {
  bearer,
  type ClientTokens,
  clientRedirect,
  fakeIdpScenario,
  gatewayEnv,
  refresh,
  signIn,
} from "./flows.ts"
import { freePort, sleep, spawnGateway } from "./processes.ts"

const sessions = 4
const workers = 8

const scenario = fakeIdpScenario("oidc-proxy-sqlite-kill-")

/** Requests until `stop` is set; connection errors (the kill) end the worker quietly. */
const worker = async (
  url: string,
  n: number,
  tokens: ReadonlyArray<ClientTokens>,
  chain: { current: ClientTokens },
  stop: { done: boolean },
  counts: { ok: number; failed: number; errors: number },
) => {
  for (let i = 0; !stop.done && i < 10_000; i++) {
    try {
      const kind = (n + i) % 4
      if (kind === 3 && n === 0) {
        // One worker rotates its own session (writes: refresh record, rotated answer, jti, family).
        const res = await refresh(url, chain.current)
        if (res.status === 200)
          chain.current = { ...chain.current, refresh_token: res.body["refresh_token"] as string }
        res.status === 200 ? counts.ok++ : counts.failed++
      } else if (kind === 2) {
        const res = await fetch(`${url}/register`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ redirect_uris: [clientRedirect], token_endpoint_auth_method: "none" }),
        }) // writes a client record
        await res.arrayBuffer()
        res.status === 201 ? counts.ok++ : counts.failed++
      } else {
        const res = await bearer(url, tokens[(n + i) % tokens.length]!.access_token)
        res.status === 200 ? counts.ok++ : counts.failed++
      }
    } catch {
      counts.errors++
      if (stop.done) return
      await sleep(20)
    }
  }
}

describe("fault: SQLite store, the binary killed with SIGKILL under load", () => {
  it("after a restart with the same environment every token issued before works and every refresh token refreshes", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const env = gatewayEnv(url, scenario.target.url, scenario.idp, `sqlite:${join(scenario.dir, "gw.db")}`, {
      OIDC_PROXY_LOG_LEVEL: "warn",
      // The load registers clients as fast as it can: past any per-source quota.
      OIDC_PROXY_REGISTRATION_QUOTA: "0",
    })
    scenario.gateway = await spawnGateway(url, env)
    const issued: Array<ClientTokens> = []
    for (let i = 0; i < sessions; i++) issued.push(await signIn(url, scenario.idp))
    const chain = { current: await signIn(url, scenario.idp) }

    const stop = { done: false }
    const counts = { ok: 0, failed: 0, errors: 0 }
    const load = Promise.all(
      Array.from({ length: workers }, (_, n) => worker(url, n, issued, chain, stop, counts)),
    )
    // Wait for the load to be under way rather than a fixed time: on a busy machine 600 ms may
    // see only a handful of answers.
    for (let waited = 0; counts.ok <= 10 && waited < 15_000; waited += 100) await sleep(100)
    expect(counts.ok, "the load was running").toBeGreaterThan(10)
    await scenario.gateway.stop("SIGKILL") // mid-load: requests are in flight
    await sleep(100)
    stop.done = true
    await load
    expect(scenario.gateway.child.signalCode).toBe("SIGKILL")
    expect(counts.failed, "no request failed before the kill").toBe(0)

    scenario.gateway = await spawnGateway(url, env)
    for (const tokens of issued) {
      const check = await bearer(url, tokens.access_token)
      expect(check.status, check.text).toBe(200)
    }
    for (const tokens of issued) {
      const res = await refresh(url, tokens)
      expect(res.status, res.text).toBe(200)
      const check = await bearer(url, res.body["access_token"] as string)
      expect(check.status, check.text).toBe(200)
    }
    expect(scenario.gateway.output()).not.toMatch(/"level":"(ERROR|FATAL)"/i)
  }, 40_000)
})

/**
 * `npm run soak -- --minutes M [--clients C] [--interval S] [--out file.svg]`: steady mixed
 * traffic (sign-ins, protected calls, refreshes, revocations) through two `oidc-proxy` binaries on
 * one Redis store for M minutes, sampled every S seconds (RSS, V8 heap, open fds, active handles
 * per gateway; p50/p99 of the protected calls), with faults on a schedule in the first half:
 * Redis restarted, the IdP's JWKS down, its token endpoint slow. After each fault, sessions
 * signed in before it must still call and refresh. Ends with a verdict (slopes over the second
 * half) and an SVG plot; exits 1 unless flat with no failure outside the faults.
 */
import { writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { bearer, type ClientTokens, refresh } from "../test/faults/flows.ts"
import { sleep } from "../test/faults/processes.ts"
import { heapStats, procStats, type Rig, signIn, startRig } from "./soak/rig.ts"
import { percentile, type Sample, svg, verdict } from "./soak/verdict.ts"

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    clients: { type: "string", default: "6" },
    interval: { type: "string", default: "3" },
    out: { type: "string" },
  },
})
const durationMs = Number(values.minutes) * 60_000
const settleMs = 10_000

type Phase = "before" | "during" | "after"
const state = {
  started: 0,
  fault: undefined as string | undefined,
  /** When the last fault (plus `settleMs`) ends; failures before it count as during a fault. */
  settledAt: 0,
  faultsBegun: 0,
  running: true,
  latencies: [] as Array<number>,
  ops: 0,
  failures: { before: 0, during: 0, after: 0 } as Record<Phase, number>,
  failureKinds: new Map<string, number>(),
}

const phase = (): Phase =>
  state.faultsBegun === 0
    ? "before"
    : state.fault !== undefined || performance.now() < state.settledAt
      ? "during"
      : "after"

const fail = (what: string) => {
  const p = phase()
  state.failures[p]++
  const key = `${p}: ${what}`
  state.failureKinds.set(key, (state.failureKinds.get(key) ?? 0) + 1)
}

/** One client for the whole run: signs in, calls, refreshes every 10th op, revokes every 40th. */
const client = async (url: string) => {
  let tokens: ClientTokens | undefined
  for (let op = 0; state.running; op++) {
    try {
      if (tokens === undefined) tokens = await signIn(url)
      else if (op % 40 === 39) {
        const revoked = await fetch(`${url}/revoke`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ token: tokens.refresh_token, client_id: tokens.client_id }).toString(),
        })
        if (revoked.status !== 200) fail(`revoke ${revoked.status}`)
        tokens = undefined
      } else if (op % 10 === 9) {
        const res = await refresh(url, tokens)
        if (res.status !== 200) {
          // A refused refresh token is a session to sign in again (counted: it should not happen).
          if (res.status < 500) tokens = undefined
          throw new Error(`refresh ${res.status}`)
        }
        tokens = {
          ...tokens,
          access_token: res.body["access_token"] as string,
          refresh_token: res.body["refresh_token"] as string,
        }
      } else {
        const started = performance.now()
        const res = await bearer(url, tokens.access_token)
        state.latencies.push(performance.now() - started)
        if (res.status !== 200) throw new Error(`protected call ${res.status}`)
      }
      state.ops++
    } catch (error) {
      fail(String(error instanceof Error ? error.message : error).slice(0, 60))
      await sleep(500)
    }
    await sleep(20)
  }
}

/** The faults, in the first half of the run; each `during` runs while the fault is on. */
const schedule = (rig: Rig, ms: number) => {
  const window = Math.min(15_000, Math.max(5_000, ms * 0.06))
  return [
    {
      at: 0.15,
      name: "redis restart",
      run: async () => {
        await rig.redis.stop()
        await sleep(Math.min(5_000, window))
        await rig.redis.start()
      },
    },
    {
      at: 0.28,
      name: "JWKS down",
      run: async () => {
        rig.faults.jwksDown = true
        await sleep(window)
        rig.faults.jwksDown = false
      },
    },
    {
      at: 0.41,
      name: "token endpoint slow (2.5 s)",
      run: async () => {
        rig.faults.tokenDelayMs = 2_500
        await sleep(window)
        rig.faults.tokenDelayMs = 0
      },
    },
  ]
}

interface FaultResult {
  readonly name: string
  readonly seconds: number
  readonly tokensKept: boolean
  readonly sessionsKept: boolean
}

/**
 * Runs each fault at its time; after it (plus `settleMs`), every durable session signed in
 * before it must still call (no token lost) and refresh (no session lost).
 */
const faults = async (rig: Rig, durable: Array<ClientTokens>, results: Array<FaultResult>) => {
  for (const f of schedule(rig, durationMs)) {
    const wait = state.started + f.at * durationMs - performance.now()
    if (wait > 0) await sleep(wait)
    if (!state.running) return
    state.fault = f.name
    state.faultsBegun++
    const began = performance.now()
    console.info(`soak: fault begins: ${f.name}`)
    await f.run()
    const seconds = (performance.now() - began) / 1000
    state.fault = undefined
    state.settledAt = performance.now() + settleMs
    console.info(`soak: fault ends: ${f.name} (${seconds.toFixed(1)} s)`)
    await sleep(settleMs)
    let tokensKept = true
    let sessionsKept = true
    for (const [i, t] of durable.entries()) {
      if ((await bearer(rig.url, t.access_token)).status !== 200) tokensKept = false
      const res = await refresh(rig.url, t)
      if (res.status !== 200) sessionsKept = false
      else
        durable[i] = {
          ...t,
          access_token: res.body["access_token"] as string,
          refresh_token: res.body["refresh_token"] as string,
        }
    }
    results.push({ name: f.name, seconds, tokensKept, sessionsKept })
    console.info(
      `soak: after ${f.name}: tokens from before still work: ${tokensKept}, sessions refresh: ${sessionsKept}`,
    )
  }
}

const sampleOnce = async (rig: Rig): Promise<Sample> => {
  const procs = rig.gateways.map((g) => procStats(g.child.pid!))
  const heaps = await Promise.all(
    rig.metrics.map((m) => heapStats(m).catch(() => ({ heapMb: 0, handles: 0 }))),
  )
  const latencies = state.latencies.splice(0)
  return {
    t: (performance.now() - state.started) / 1000,
    rssMb: procs.map((p) => p.rssMb),
    heapMb: heaps.map((h) => h.heapMb),
    fds: procs.map((p) => p.fds),
    handles: heaps.map((h) => h.handles),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    requests: latencies.length,
    fault: state.fault,
  }
}

const line = (s: Sample) => {
  const pair = (xs: ReadonlyArray<number>, digits = 1) => xs.map((x) => x.toFixed(digits)).join("/")
  const f = state.failures
  return (
    `soak: ${s.t.toFixed(0)} s  rss ${pair(s.rssMb)} MB  heap ${pair(s.heapMb)} MB  fds ${pair(s.fds, 0)}  ` +
    `handles ${pair(s.handles, 0)}  p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  calls ${s.requests}  ` +
    `ops ${state.ops}  failures ${f.before}/${f.during}/${f.after}${s.fault === undefined ? "" : `  [${s.fault}]`}`
  )
}

const main = async () => {
  const rig = await startRig()
  const samples: Array<Sample> = []
  const results: Array<FaultResult> = []
  try {
    const durable = [await signIn(rig.url), await signIn(rig.url)]
    console.info(
      `soak: ${values.minutes} min, ${values.clients} clients + 2 durable sessions, 2 gateways (pids ${rig.gateways.map((g) => g.child.pid).join(", ")}) on Redis, front ${rig.url}`,
    )
    state.started = performance.now()
    const clients = Array.from({ length: Number(values.clients) }, () => client(rig.url))
    const faulting = faults(rig, durable, results)
    while (performance.now() - state.started < durationMs) {
      await sleep(Number(values.interval) * 1000)
      rig.target.seen.length = 0 // the recording target keeps nothing the soak needs
      const s = await sampleOnce(rig)
      samples.push(s)
      console.info(line(s))
    }
    state.running = false
    await Promise.all([...clients, faulting])
    finish(samples, results)
  } finally {
    await rig.stop()
  }
}

const finish = (samples: ReadonlyArray<Sample>, results: ReadonlyArray<FaultResult>) => {
  const v = verdict(samples)
  const out = values.out ?? join(tmpdir(), `oidc-proxy-soak-${Date.now()}.svg`)
  const f = state.failures
  writeFileSync(
    out,
    svg(samples, `oidc-proxy soak: ${values.minutes} min, 2 gateways on Redis, ${state.ops} operations`),
  )
  const faultsOk = results.every((r) => r.tokensKept && r.sessionsKept)
  console.info(
    `soak: verdict: ${v.flat ? "FLAT" : "NOT FLAT"} over the second half; RSS slope ${v.rssSlopes.map((s) => `${s.toFixed(2)}`).join(" / ")} MB/min, ` +
      `p99 slope ${v.p99Slope.toFixed(2)} ms/min${v.reasons.length > 0 ? ` (${v.reasons.join("; ")})` : ""}
` +
      `soak: ${state.ops} operations; failures before faults ${f.before}, during faults (+${settleMs / 1000} s) ${f.during}, after faults ${f.after}
` +
      [...state.failureKinds].map(([k, n]) => `  ${n}× ${k}`).join("\n") +
      `\nsoak: faults: ${results.map((r) => `${r.name} ${r.seconds.toFixed(0)} s (tokens kept ${r.tokensKept}, sessions kept ${r.sessionsKept})`).join("; ")}\n` +
      `soak: plot: ${out}`,
  )
  process.exitCode = v.flat && f.before + f.after === 0 && faultsOk && results.length === 3 ? 0 : 1
}

await main()

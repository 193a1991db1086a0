/**
 * `npm run fuzz -- --cases N --seed S [--case K] [--concurrency C]`: the large fuzz against the
 * `oidc-proxy` binary (a child process, memory store, quotas off) in front of a recording target,
 * against the fake IdP. Every endpoint, every family of `fuzz/families.ts`; case K of seed S is
 * drawn from seed S and K alone, so `--seed S --case K` replays it (against fresh live values).
 *
 * Prints a progress line every 5 s, each finding with its replay command as it happens, and a
 * summary; exits 1 on any finding, a gateway error line, or session A lost.
 */
import { parseArgs } from "node:util"
import * as fc from "fast-check"
import { startFakeIdp } from "../test/faults/FakeIdp.ts"
import { bearer, gatewayEnv, startTarget, type Target } from "../test/faults/flows.ts"
import { freePort, type GatewayProcess, sleep, spawnGateway } from "../test/faults/processes.ts"
import { exchange, smuggledMarker } from "../test/raw.ts"
import { type Answer, type Finding, findings } from "./fuzz/checks.ts"
import { type FuzzCase, fuzzCase } from "./fuzz/families.ts"
import { type Fixtures, prepare, renew } from "./fuzz/fixtures.ts"

const { values } = parseArgs({
  options: {
    cases: { type: "string", default: "100000" },
    seed: { type: "string" },
    case: { type: "string" },
    concurrency: { type: "string", default: "16" },
  },
})
const seed = values.seed === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(values.seed)
const only = values.case === undefined ? undefined : Number(values.case)
const total = only === undefined ? Number(values.cases) : 1
const concurrency = only === undefined ? Number(values.concurrency) : 1

/** Case `k` of the run: its own seed, so it needs none of the cases before it. */
const caseAt = (arb: fc.Arbitrary<FuzzCase>, k: number): FuzzCase =>
  fc.sample(arb, { numRuns: 1, seed: (seed + Math.imul(k + 1, 0x9e3779b1)) | 0 })[0]!

/** Sends case `id`: raw bytes over a socket, or a request with fetch (redirects not followed). */
const send = async (c: FuzzCase, id: string, port: number, f: Fixtures): Promise<Answer | undefined> => {
  if (c.raw !== undefined) {
    const host = `127.0.0.1:${port}`
    // A busy machine delays answers by seconds. The half-close after 4 s idle (for a body shorter
    // than its length) must come after any answer: Node's server drops a request in flight when
    // its client half-closes, so at 1 s (the CI battery's value) a slow answer read as none.
    const answer = await exchange(port, c.raw.bytes({ host, token: f.a.access_token, id }), 4_000, 15_000)
    return { ...answer, location: undefined }
  }
  const out = await c.http!(f)
  if (out === undefined) return undefined
  let res: Response
  try {
    res = await fetch(`http://127.0.0.1:${port}${out.path}`, {
      method: out.method,
      headers: { ...out.headers, "x-case": id },
      redirect: "manual",
      ...(out.body === undefined ? {} : { body: out.body }),
    })
  } catch {
    return undefined // fetch refused to build it (a forbidden method or header value)
  }
  const head = [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\r\n")
  const text = `HTTP/1.1 ${res.status}\r\n${head}\r\n\r\n${await res.text()}`
  return { statuses: [res.status], text, location: res.headers.get("location") ?? undefined }
}

interface Tally {
  done: number
  skipped: number
  forwarded: number
  /** Cases whose exchange took over 4 s (a socket left waiting for bytes, or a stalled answer). */
  slow: number
  readonly byKind: Map<string, number>
  readonly byFamily: Map<string, number>
  readonly findings: Array<string>
}

/** The answer's first bytes with every secret replaced: the fuzz's own output echoes nothing. */
const excerpt = (text: string, secrets: ReadonlyArray<string>) =>
  JSON.stringify(secrets.reduce((t, s) => t.replaceAll(s, "<secret>"), text).slice(0, 300))

const report = (
  tally: Tally,
  k: number,
  c: FuzzCase,
  list: ReadonlyArray<Finding>,
  answer: Answer,
  secrets: ReadonlyArray<string>,
) => {
  for (const f of list) {
    tally.byKind.set(f.kind, (tally.byKind.get(f.kind) ?? 0) + 1)
    const line =
      `FINDING ${f.kind} case ${k} [${c.family}] ${f.detail}\n  ${c.label.slice(0, 200)}\n` +
      `  answer: ${excerpt(answer.text, secrets)}\n` +
      `  replay: npm run fuzz -- --seed ${seed} --case ${k}`
    if (tally.findings.length < 200) tally.findings.push(line)
    console.info(line)
  }
}

const run = async (gateway: GatewayProcess, port: number, target: Target, f: Fixtures, tally: Tally) => {
  const arb = fuzzCase(`127.0.0.1:${port}`)
  let next = only ?? 0
  const last = only ?? total - 1
  const worker = async () => {
    while (next <= last) {
      const k = next++
      const c = caseAt(arb, k)
      const id = `${seed}-${k}`
      const sent = performance.now()
      const answer = await send(c, id, port, f)
      const ms = performance.now() - sent
      if (ms > 4_000) {
        tally.slow++
        if (tally.slow <= 20)
          console.info(
            `slow: case ${k} [${c.family}] ${ms.toFixed(0)} ms, ${answer?.statuses.join(",") || "no answer"}: ${c.label.slice(0, 160)}`,
          )
      }
      tally.done++
      tally.byFamily.set(c.family, (tally.byFamily.get(c.family) ?? 0) + 1)
      if (answer === undefined) {
        tally.skipped++
        continue
      }
      const seen = target.seen.filter((s) => s.headers["x-case"] === id)
      tally.forwarded += seen.length
      report(tally, k, c, findings(c, answer, seen, f.secrets), answer, f.secrets)
      if (only !== undefined)
        console.info(`case ${k} [${c.family}] ${c.label}\n${answer.text.slice(0, 2000)}`)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  void gateway
}

const main = async () => {
  const idp = await startFakeIdp()
  const target = await startTarget()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const env = gatewayEnv(url, target.url, idp, "memory", {
    OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
    OIDC_PROXY_LOG_FORMAT: "json",
    OIDC_PROXY_FORWARD_ACCESS_TOKEN: "true",
    // One source sends everything: the per-source quotas would answer 429 to most of the run.
    OIDC_PROXY_REGISTRATION_QUOTA: "0",
    OIDC_PROXY_AUTHORIZE_QUOTA: "0",
    OIDC_PROXY_ASSERTION_QUOTA: "0",
  })
  const gateway = await spawnGateway(url, env)
  const tally: Tally = {
    done: 0,
    slow: 0,
    skipped: 0,
    forwarded: 0,
    byKind: new Map(),
    byFamily: new Map(),
    findings: [],
  }
  let lost = false
  try {
    const fixtures = await prepare(url, idp, target)
    console.info(`fuzz: ${total} cases against ${url}, seed ${seed}, ${concurrency} in flight`)
    const started = performance.now()
    const progress = setInterval(() => {
      const s = (performance.now() - started) / 1000
      console.info(
        `fuzz: ${tally.done}/${total} cases, ${(tally.done / s).toFixed(0)} cases/s, ` +
          `${tally.byKind.get("5xx") ?? 0} 5xx, ${tally.byKind.get("echo") ?? 0} echoes, ` +
          `${tally.byKind.get("allow") ?? 0} allows, ${tally.findings.length} findings, ${tally.slow} slow`,
      )
    }, 5_000)
    // Consent transactions, callback states and codes expire: renewed while the run goes on.
    const renewal = setInterval(() => void renew(url, idp, fixtures).catch(() => undefined), 30_000)
    try {
      await run(gateway, port, target, fixtures, tally)
    } finally {
      clearInterval(progress)
      clearInterval(renewal)
    }
    const seconds = (performance.now() - started) / 1000
    await sleep(200) // a smuggled request arrives after its carrier's answer
    const smuggled = target.seen.filter((s) => s.headers[smuggledMarker] !== undefined).length
    // Session A was never sent anywhere that could end it: it must still work.
    lost = (await bearer(url, fixtures.a.access_token)).status !== 200
    const errors = gateway
      .output()
      .split("\n")
      .filter((line) => line.includes('"level":"ERROR"'))
    summary(tally, seconds, smuggled, lost, errors)
    process.exitCode = tally.findings.length + smuggled + errors.length > 0 || lost ? 1 : 0
  } finally {
    await gateway.stop()
    await target.close()
    await idp.close()
  }
}

const summary = (tally: Tally, seconds: number, smuggled: number, lost: boolean, errors: Array<string>) => {
  const kinds = ["5xx", "echo", "allow", "off-path", "smuggled", "not-forwarded", "no-answer", "granted"]
  console.info(
    `fuzz: ${tally.done} cases in ${seconds.toFixed(1)} s (${(tally.done / seconds).toFixed(0)} cases/s), ` +
      `seed ${seed}, ${tally.forwarded} forwarded, ${tally.skipped} not sendable, ${tally.slow} slower than 4 s\n` +
      `  findings: ${kinds.map((k) => `${tally.byKind.get(k) ?? 0} ${k}`).join(", ")}\n` +
      `  smuggled requests at the target: ${smuggled}; session A still valid: ${!lost}; gateway error lines: ${errors.length}\n` +
      `  cases by family: ${[...tally.byFamily].map(([k, n]) => `${k} ${n}`).join(", ")}`,
  )
  for (const e of errors.slice(0, 10)) console.info(`  gateway: ${e.slice(0, 300)}`)
}

await main()

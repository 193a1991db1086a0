/**
 * The battery in raw HTTP/1.1: generated requests (`raw.ts`) written byte for byte over `node:net`
 * to the real `oidc-proxy` binary (a child process, its output read) in front of a recording
 * target, with one valid bearer from a whole sign-in against the fake IdP. Properties, per case:
 * - no answer is a 5xx, and the gateway writes no error line;
 * - nothing reaches the target without a valid bearer;
 * - the target sees the configured target path (`/mcp`, `/mcp/…`) and nothing else: no leading
 *   `//`, no dot-segment (plain or encoded), no NUL;
 * - at most one request reaches the target per case (exactly one when every part is one a correct
 *   gateway forwards), and the request smuggled inside each body never reaches it as a request.
 *
 * Size: `RAW_FUZZ_CASES` (default 300, the CI run); `npm run fuzz -- --cases N --seed S` runs it at
 * full size and prints cases/s; the seed of a failing run replays it. A forced defect's 5xx and
 * its log line are proven in the node adapter's `EdgeReplays.test.ts`, not here.
 */
import * as fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./faults/FakeIdp.ts"
import { gatewayEnv, signIn, startTarget, type Target } from "./faults/flows.ts"
import { freePort, type GatewayProcess, sleep, spawnGateway } from "./faults/processes.ts"
import { type Case, exchange, onTargetPath, rawCase, smuggledMarker } from "./raw.ts"

const cases = Number(process.env["RAW_FUZZ_CASES"] ?? 300)

let idp: FakeIdp
let target: Target
let gateway: GatewayProcess
let port: number
let token: string

beforeAll(async () => {
  idp = await startFakeIdp()
  target = await startTarget()
  port = await freePort()
  const url = `http://127.0.0.1:${port}`
  gateway = await spawnGateway(
    url,
    gatewayEnv(url, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_LOG_LEVEL: "error",
      OIDC_PROXY_LOG_FORMAT: "json",
    }),
  )
  token = (await signIn(url, idp)).access_token
}, 60_000)

afterAll(async () => {
  await gateway?.stop()
  await target?.close()
  await idp?.close()
})

interface Tally {
  cases: number
  forwarded: number
  serverErrors: Array<string>
  unauthorized: Array<string>
}

/** One case: sent, then every property checked against what the target recorded meanwhile. */
const check = async (c: Case, tally: Tally) => {
  const id = String(tally.cases)
  const answer = await exchange(port, c.bytes({ host: `127.0.0.1:${port}`, token, id }))
  const got = target.seen.filter((s) => s.headers["x-case"] === id)
  tally.cases++
  tally.forwarded += got.length
  const where = `${c.label}\n${answer.text.slice(0, 300)}`
  if (answer.statuses.some((s) => s >= 500)) tally.serverErrors.push(c.label)
  if (got.length > 0 && !c.authorized) tally.unauthorized.push(c.label)
  expect(
    answer.statuses.filter((s) => s >= 500),
    where,
  ).toEqual([])
  for (const seen of got) {
    expect(c.authorized, `reached the target without a valid bearer: ${where}`).toBe(true)
    expect(onTargetPath(seen.url), `target saw ${JSON.stringify(seen.url)}: ${where}`).toBe(true)
  }
  expect(
    target.seen.filter((s) => s.headers[smuggledMarker] !== undefined),
    where,
  ).toEqual([])
  if (c.forwards) {
    expect(got.length, where).toBe(1)
    expect(answer.statuses[0], where).toBe(200)
  } else expect(got.length, where).toBeLessThanOrEqual(1)
}

describe("raw HTTP/1.1 against the oidc-proxy binary", () => {
  it(
    `${cases} generated requests - no 5xx, nothing unauthorized or off the target path reaches the target, nothing smuggled`,
    async () => {
      const seed = fc.readConfigureGlobal().seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
      const tally: Tally = { cases: 0, forwarded: 0, serverErrors: [], unauthorized: [] }
      const started = performance.now()
      try {
        await fc.assert(
          fc.asyncProperty(rawCase(`127.0.0.1:${port}`), (c) => check(c, tally)),
          { numRuns: cases, seed, endOnFailure: true },
        )
      } finally {
        const seconds = (performance.now() - started) / 1000
        // `npm run fuzz` quotes this line.
        console.info(
          `raw fuzz: ${tally.cases} cases in ${seconds.toFixed(1)} s (${(tally.cases / seconds).toFixed(0)} cases/s), ` +
            `${tally.forwarded} forwarded, ${tally.serverErrors.length} 5xx, ` +
            `${tally.unauthorized.length} reached the target without a valid bearer, seed ${seed}` +
            (tally.serverErrors.length + tally.unauthorized.length > 0
              ? `\n${[...tally.serverErrors, ...tally.unauthorized].join("\n")}`
              : ""),
        )
      }
      // A request smuggled to the target arrives after its carrier's answer: a last look.
      await sleep(200)
      expect(target.seen.filter((s) => s.headers[smuggledMarker] !== undefined)).toEqual([])
      const errors = gateway
        .output()
        .split("\n")
        .filter((line) => line.includes('"level":"ERROR"'))
      expect(errors).toEqual([])
    },
    Number(process.env["RAW_FUZZ_TIMEOUT"] ?? 120_000),
  )
})

/**
 * Smoke run of `npm run bench` (tiny counts): the run completes, and `results.json` has every
 * measurement row and every target; without redis-server on the PATH the run skips the Redis rows
 * with one line and names them at the end.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { PostgresServer } from "@oidc-proxy/store-postgres/testing"

// The Redis rows need a local redis-server binary (Debian package redis-server); without one the
// smoke run cannot produce them, so it does not run.
const hasRedis = spawnSync("redis-server", ["--version"]).status === 0
// nginx, caddy and PostgreSQL rows are measured when their binaries are here, skipped otherwise.
const proxies = [
  ["nginx", "-v"],
  ["caddy", "version"],
].flatMap(([kind, arg]) => (spawnSync(kind!, [arg!]).error === undefined ? [kind!] : []))

const expected: ReadonlyArray<ReadonlyArray<string>> = [
  ["baseline", "jose HS256 verify"],
  ["baseline", "jose RS256 verify (local JWKS)"],
  ["baseline", "node:crypto HMAC verify (+ claims decode)"],
  ...["memory", "sqlite", "redis"].flatMap((s) => [
    ["pipeline", `cold check (${s})`],
    ["pipeline", `warm check via Effect runtime (${s})`],
    ["pipeline", `warm check, synchronous (${s})`],
  ]),
  ["parts", "proxy token verify (memory)"],
  ["parts", "upstream id_token verify (memory)"],
  ["peer", "fastmcp OAuthProxy authenticate (per request)"],
  ["memory", "fastmcp OAuthProxy (encrypted memory storage)"],
  ["gateway", "direct to the MCP server"],
  ["gateway", "bare undici reverse proxy (no auth)"],
  ["gateway", "oidc-proxy gateway (Gateway.start)"],
  ["gateway", "oidc-proxy gateway (Gateway.start, access log off)"],
  ["gateway", "Express + requireBearerAuth (jose HS256)"],
  ["gateway", "Express + requireBearerAuth → undici forward (jose HS256)"],
  ["gateway", "oidc-proxy gateway + 20-rule policy (tools/call)"],
  ["gateway", "in process: body parse + 20-rule decision (tools/call ping, last rule)"],
  ["gateway", "in process: list filter decisions, 20 tools"],
  ["gateway", "tools/list: bare undici reverse proxy"],
  ["gateway", "tools/list: oidc-proxy gateway (no policy)"],
  ["gateway", "tools/list: oidc-proxy gateway + 20-rule policy (list filtered, 10 of 20 kept)"],
  ...proxies.map((kind) => ["gateway", `${kind} reverse proxy (no auth)`] as const),
  ...(PostgresServer.available
    ? [
        ["pipeline", "cold check (postgres)"] as const,
        ["memory", "oidc-proxy postgres store, 200 sessions"] as const,
      ]
    : []),
  ["scale", "warm check, synchronous, random of 1000 sessions"],
  ["scale", "warm check, synchronous, fresh string, random of 1000 sessions"],
  ["scale", "control: Map.get of a fresh string, random of 1000 sessions"],
  ["scale", "cold check, random of 1000 sessions"],
  ["scale", "warm check, synchronous, bearer from hot bytes, random of 1000 sessions"],
  ["scale", "control: Map.get of a bearer from hot bytes, random of 1000 sessions"],
  ["scale", "control: bearer from hot bytes alone, 1000 sessions"],
  ["memory", "oidc-proxy memory store, 200 sessions"],
  ["memory", "oidc-proxy sqlite store, 200 sessions"],
  ["memory", "oidc-proxy redis store, 200 sessions"],
]

describe("bench", () => {
  it.skipIf(!hasRedis)(
    "smoke - every row and target is in results.json",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "bench-smoke-"))
      const file = join(dir, "results.json")
      try {
        execFileSync(
          process.execPath,
          ["--expose-gc", "--no-allocation-site-pretenuring", join(import.meta.dirname, "..", "run.ts")],
          {
            env: { ...process.env, BENCH_SMOKE: "1", BENCH_RESULTS: file },
            stdio: ["ignore", "pipe", "pipe"],
            // Under load: four gateways, two reverse proxies and a PostgreSQL cluster to start.
            timeout: 400_000,
          },
        )
        const results = JSON.parse(readFileSync(file, "utf8")) as {
          rows: Array<{
            section: string
            name: string
            cpuUs?: number
            bytesPerSession?: number
            opsPerSec?: number
          }>
          targets: Array<{ target: string; value?: number; met: boolean }>
          smoke: boolean
        }
        assert.isTrue(results.smoke)
        for (const [section, name] of expected) {
          const row = results.rows.find((r) => r.section === section && r.name === name)
          assert.isDefined(row, `${section} | ${name}`)
          const value = row?.cpuUs ?? row?.bytesPerSession ?? row?.opsPerSec
          assert.isTrue(
            typeof value === "number" && Number.isFinite(value) && value > 0,
            `${section} | ${name}`,
          )
        }
        // Twelve targets and information ratios, plus the bare Map.get's 1k→1M ratio and the warm
        // check's cost over it at 1M (information), the typed-array table's two ratios, the fast
        // path's gate in process, plus three per reverse proxy measured.
        assert.strictEqual(results.targets.length, 23 + 3 * proxies.length)
        for (const t of results.targets) assert.isTrue(typeof t.value === "number", t.target)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    420_000,
  )

  it("no redis-server on the PATH - the Redis rows are skipped with one line and listed at the end", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-noredis-"))
    const file = join(dir, "results.json")
    try {
      // Only Node's own folder on the PATH: `spawn("redis-server")` fails with ENOENT.
      const run = spawnSync(
        process.execPath,
        ["--expose-gc", "--no-allocation-site-pretenuring", join(import.meta.dirname, "..", "run.ts")],
        {
          env: {
            ...process.env,
            PATH: dirname(process.execPath),
            BENCH_SMOKE: "1",
            BENCH_ONLY: "memory",
            BENCH_RESULTS: file,
          },
          encoding: "utf8",
          timeout: 120_000,
        },
      )
      assert.strictEqual(run.status, 0, run.stderr)
      assert.include(run.stderr, "redis-server not found on the PATH: the Redis rows are skipped")
      assert.notInclude(run.stderr, "ENOENT")
      assert.include(
        run.stdout,
        "skipped (not measured on this machine):\n- memory | oidc-proxy redis store, 200 sessions",
      )
      const results = JSON.parse(readFileSync(file, "utf8")) as {
        rows: Array<{ section: string; name: string }>
        skipped: Array<string>
      }
      // The Postgres rows depend on /usr/lib/postgresql, not on the PATH: left out here.
      assert.deepStrictEqual(
        results.skipped.filter((s) => !s.includes("postgres")),
        ["memory | oidc-proxy redis store, 200 sessions"],
      )
      assert.deepStrictEqual(
        results.rows.filter((r) => r.section === "memory" && !r.name.includes("postgres")).map((r) => r.name),
        ["oidc-proxy memory store, 200 sessions", "oidc-proxy sqlite store, 200 sessions"],
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 130_000)
})

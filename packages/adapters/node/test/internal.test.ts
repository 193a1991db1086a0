/**
 * The gateway fast path's small helpers: request targets read without `URL` give what `URL` gives
 * for `origin + target`, the Fetch path's URL (and `ReverseProxy.targetUrl` maps them the same way); request ids keep a UUID's shape and are
 * unique.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as AccessLog from "../src/internal/accessLog.ts"
import * as RequestId from "../src/internal/requestId.ts"
import * as RequestTarget from "../src/internal/requestTarget.ts"
import * as Metrics from "../src/Metrics.ts"
import * as ReverseProxy from "../src/ReverseProxy.ts"

const origin = "http://127.0.0.1:8080"

/** Characters that matter to the URL parser, plus plain ones. */
const tricky = fc.constantFrom(
  ..."/?#.%2eE:@!$&'()*+,;=-_~ \"<>`{}|\\^[]\t\né€aZ09".split(""),
  "%2e",
  "%2E",
  "/.",
  "/..",
  "//",
  "mcp",
  "/mcp",
)
const rawTarget = fc.array(tricky, { maxLength: 14 }).map((parts) => parts.join(""))

const fast = (raw: string) => {
  const q = RequestTarget.simpleQueryIndex(raw)
  if (q < 0) return undefined
  return { pathname: q === raw.length ? raw : raw.slice(0, q), search: RequestTarget.searchOf(raw, q) }
}

describe("RequestTarget", () => {
  it("simpleQueryIndex - a simple target is exactly what URL gives; everything else is not simple", () => {
    const samples = [
      "/mcp",
      "/mcp/",
      "/mcp?",
      "/mcp?x=1&y=a:b@c",
      "/mcp/sub/../x",
      "/mcp/./x",
      "/mcp/%2e%2e/x",
      "//evil.test/mcp",
      "http://other.test/mcp",
      "/mcp?x='1'",
      "/mcp#frag",
      "/m cp",
      "/mcp\\x",
      "*",
      "",
      "/mcp/é",
    ]
    for (const raw of samples) {
      const got = fast(raw)
      if (got === undefined) continue
      const url = new URL(`${origin}${raw}`)
      assert.deepStrictEqual(got, { pathname: url.pathname, search: url.search }, raw)
    }
    assert.isDefined(fast("/mcp?x=1&y=a:b@c"))
    // A path, never an authority (RFC 9112 §3.2.1).
    assert.deepStrictEqual(fast("//evil.test/mcp"), { pathname: "//evil.test/mcp", search: "" })
    assert.isUndefined(fast("/mcp/../x"))
    assert.isUndefined(fast("/mcp/%2E%2e/x"))
    assert.isUndefined(fast("http://other.test/mcp"))
  })

  it("simpleQueryIndex - random targets: simple ones are exactly what URL gives", () => {
    fc.assert(
      fc.property(rawTarget, (tail) => {
        const raw = `/${tail}`
        const got = fast(raw)
        if (got === undefined) return
        const url = new URL(`${origin}${raw}`)
        assert.deepStrictEqual(got, { pathname: url.pathname, search: url.search }, raw)
      }),
      { numRuns: 3000 },
    )
  })

  it("makeTargetPath - the same path and query as ReverseProxy.targetUrl", () => {
    const targets = ["http://t.test/mcp", "http://t.test/mcp/", "http://t.test/", "http://t.test/a/b"]
    const resources = ["/mcp", "/", "/mcp/"]
    const requests = ["/mcp", "/mcp/", "/mcp/sub?x=1", "/mcp?", "/mcp/a/b?q=a:b", "/", "/other?z"]
    for (const t of targets)
      for (const resourcePath of resources) {
        const options = { target: new URL(t), resourcePath }
        const map = RequestTarget.makeTargetPath(options)
        for (const raw of requests) {
          const q = RequestTarget.simpleQueryIndex(raw)
          assert.isAtLeast(q, 0)
          const pathname = q === raw.length ? raw : raw.slice(0, q)
          const expected = ReverseProxy.targetUrl(new URL(raw, origin), options)
          assert.strictEqual(
            map(pathname, RequestTarget.searchOf(raw, q)),
            `${expected.pathname}${expected.search}`,
            `${t} ${resourcePath} ${raw}`,
          )
        }
      }
  })
})

describe("RequestId", () => {
  it("make - UUID-shaped (version 4, variant bits), unique, one prefix per generator", () => {
    const next = RequestId.make()
    const ids = Array.from({ length: 5000 }, next)
    for (const id of ids.slice(0, 50))
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.strictEqual(new Set(ids).size, ids.length)
    assert.notStrictEqual(RequestId.make()().slice(0, 24), ids[0]!.slice(0, 24))
  })
})

describe("AccessLog", () => {
  it("make - lines queued within flushMillis go out in one write; maxPending writes at once; close writes the rest", async () => {
    const writes: Array<string> = []
    const log = AccessLog.make((chunk) => writes.push(chunk), { flushMillis: 30, maxPending: 2000 })
    log.line("id-1", "POST", "/mcp", 200, 1.5)
    log.line("id-2", "GET", '/m"cp', 404, 0.1)
    assert.strictEqual(writes.length, 0)
    await new Promise((r) => setTimeout(r, 60))
    assert.strictEqual(writes.length, 1)
    const lines = writes[0]!.trimEnd().split("\n")
    assert.strictEqual(lines.length, 2)
    const first = JSON.parse(lines[0]!) as Record<string, unknown>
    assert.deepStrictEqual(Object.keys(first), [
      "message",
      "level",
      "timestamp",
      "annotations",
      "spans",
      "fiberId",
    ])
    assert.deepStrictEqual(first["annotations"], {
      request_id: "id-1",
      method: "POST",
      path: "/mcp",
      status: 200,
      duration_ms: 1.5,
    })
    assert.match(String(first["timestamp"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.isBelow(Math.abs(Date.parse(String(first["timestamp"])) - Date.now()), 5000)
    assert.strictEqual((JSON.parse(lines[1]!) as { annotations: { path: string } }).annotations.path, '/m"cp')
    for (let i = 0; i < 20; i++) log.line(`id-${i}`, "POST", "/mcp", 200, 1)
    assert.strictEqual(writes.length, 2) // over maxPending: written without waiting
    log.line("last", "POST", "/mcp", 200, 1)
    log.close()
    assert.strictEqual(writes.length, 3)
    assert.include(writes[2]!, '"request_id":"last"')
  })
})

describe("AccessLog backlog", () => {
  it("make - while the destination's backlog is over maxBacklog, batches are dropped and counted, then reported once it keeps up", () => {
    const writes: Array<string> = []
    let backlog = 0
    const log = AccessLog.make((chunk) => writes.push(chunk), { backlog: () => backlog, maxBacklog: 100 })
    log.line("kept-1", "POST", "/mcp", 200, 1)
    log.flush()
    backlog = 101
    for (let i = 0; i < 3; i++) log.line(`lost-${i}`, "POST", "/mcp", 200, 1)
    log.flush()
    log.line("lost-3", "POST", "/mcp", 200, 1)
    log.flush()
    assert.strictEqual(writes.length, 1, "nothing more handed to a destination that does not keep up")
    backlog = 0
    log.line("kept-2", "POST", "/mcp", 200, 1)
    log.close()
    assert.strictEqual(writes.length, 3)
    const warning = JSON.parse(writes[1]!) as { level: string; annotations: { dropped: number } }
    assert.strictEqual(warning.level, "WARN")
    assert.strictEqual(warning.annotations.dropped, 4)
    assert.include(writes[2]!, '"request_id":"kept-2"')
    assert.notInclude(writes.join(""), "lost-")
  })
})

describe("Metrics", () => {
  it("process gauges - resident memory, heap and active resources of this process, as gauges", () => {
    const text = Metrics.make().render()
    const gauge = (name: string) => {
      assert.include(text, `# TYPE ${name} gauge`)
      return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1])
    }
    assert.isAbove(gauge("process_resident_memory_bytes"), gauge("nodejs_heap_size_used_bytes"))
    assert.isAtLeast(gauge("nodejs_heap_size_total_bytes"), gauge("nodejs_heap_size_used_bytes"))
    assert.isAbove(gauge("nodejs_heap_size_used_bytes"), 0)
    assert.isAtLeast(gauge("nodejs_active_resources"), 0)
  })

  it("target - cumulative histogram buckets, sum and count per outcome", () => {
    const metrics = Metrics.make()
    for (const seconds of [0.001, 0.005, 0.02, 0.3, 20]) metrics.target(seconds, true)
    metrics.target(0.07, false)
    const text = metrics.render()
    const bucket = (outcome: string, le: string) =>
      Number(
        new RegExp(`_bucket\\{outcome="${outcome}",le="${le.replace(/[.+]/g, "\\$&")}"\\} (\\d+)`).exec(
          text,
        )?.[1],
      )
    const expected: Record<string, number> = {
      "0.005": 2,
      "0.01": 2,
      "0.025": 3,
      "0.05": 3,
      "0.1": 3,
      "0.25": 3,
      "0.5": 4,
      "1": 4,
      "2.5": 4,
      "5": 4,
      "10": 4,
      "+Inf": 5,
    }
    for (const [le, n] of Object.entries(expected)) assert.strictEqual(bucket("ok", le), n, le)
    assert.strictEqual(bucket("error", "0.05"), 0)
    assert.strictEqual(bucket("error", "0.1"), 1)
    assert.include(text, 'oidc_proxy_target_request_duration_seconds_count{outcome="ok"} 5')
    assert.include(text, 'oidc_proxy_target_request_duration_seconds_count{outcome="error"} 1')
  })
})

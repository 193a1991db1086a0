/**
 * Tests of the assembled gateway over core's test layers and real HTTP on 127.0.0.1: health,
 * readiness, the bearer check in front of the reverse proxy, metrics, OTLP traces, graceful shutdown.
 *
 * @since 0.1.0
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { OAuthError, Store } from "@oidc-proxy/core"
import { Clock, Effect, Layer, Result } from "effect"
import * as Gateway from "../src/Gateway.ts"
import * as GatewayConfig from "../src/GatewayConfig.ts"
import * as Metrics from "../src/Metrics.ts"
import { env, type FakeTarget, fakeTarget, testServices } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

const baseUrl = "http://127.0.0.1:8080"

const configFor = (target: string, overrides: Record<string, string> = {}) => {
  const decoded = GatewayConfig.decode(
    env({
      OIDC_PROXY_BASE_URL: baseUrl,
      OIDC_PROXY_LISTEN: "127.0.0.1:0",
      OIDC_PROXY_METRICS_LISTEN: "127.0.0.1:0",
      OIDC_PROXY_TARGET: `${target}/mcp`,
      OIDC_PROXY_LOG_LEVEL: "none",
      OIDC_PROXY_SHUTDOWN_TIMEOUT: "5",
      ...overrides,
    }),
  )
  if (Result.isFailure(decoded)) throw decoded.failure
  return decoded.success
}

interface Setup {
  readonly gateway: Gateway.Gateway
  readonly target: FakeTarget
  readonly issue: (claims: Record<string, unknown>, scopes?: ReadonlyArray<string>) => Promise<string>
}

const setup = async (
  options: {
    readonly overrides?: Record<string, string>
    readonly store?: Parameters<typeof testServices>[1]
    readonly respond?: Parameters<typeof fakeTarget>[0]
    readonly config?: Record<string, unknown>
  } = {},
): Promise<Setup> => {
  const target = await fakeTarget(options.respond)
  closers.push(target.close)
  const services = await testServices(baseUrl, options.store, options.config)
  const gateway = await Gateway.start(configFor(target.url, options.overrides), { services: services.layer })
  closers.unshift(gateway.shutdown)
  return { gateway, target, issue: services.issue }
}

describe("Gateway", () => {
  it.effect("countingStore - store failures are counted by operation", () =>
    Effect.gen(function* () {
      const metrics = Metrics.make()
      const failing = Store.layerTest(() => ({
        take: () => Effect.fail(new OAuthError.StoreError({ operation: "take", description: "down" })),
      }))
      const result = yield* Effect.gen(function* () {
        const store = yield* Store.Store
        yield* store.set("k", "v", "1 minute")
        return yield* Effect.result(store.take("k"))
      }).pipe(Effect.provide(Gateway.countingStore(metrics).pipe(Layer.provide(failing))))
      assert.isTrue(Result.isFailure(result))
      assert.include(metrics.render(), 'oidc_proxy_store_errors_total{operation="take"} 1')
      assert.notInclude(metrics.render(), 'operation="set"')
    }),
  )

  it.effect("countingStore - keeps the store's synchronous read (the cold check stays synchronous)", () =>
    Effect.gen(function* () {
      const store = yield* Store.Store
      yield* store.set("k", "v", "1 minute")
      assert.isDefined(store.getSync)
      assert.strictEqual(store.getSync?.("k", yield* Clock.currentTimeMillis), "v")
    }).pipe(Effect.provide(Gateway.countingStore(Metrics.make()).pipe(Layer.provide(Store.layerMemory)))),
  )

  it("revocationNote - says how revocations reach the other instances of each store kind", () => {
    const settings = { cache_ttl_seconds: 7 }
    assert.include(
      Gateway.revocationNote({ _tag: "redis", url: "redis://127.0.0.1:6379" }, settings),
      "pub/sub",
    )
    assert.include(
      Gateway.revocationNote({ _tag: "postgres", url: "postgres://db/oidc" }, settings),
      "LISTEN/NOTIFY",
    )
    assert.include(
      Gateway.revocationNote({ _tag: "sqlite", filename: "x.db" }, settings),
      "within cache_ttl_seconds (7 s)",
    )
    assert.isUndefined(Gateway.revocationNote({ _tag: "memory" }, settings))
  })

  it("healthz - 200 while the process is up", async () => {
    const { gateway } = await setup()
    const response = await fetch(`${gateway.url}/healthz`)
    assert.strictEqual(response.status, 200)
    assert.deepStrictEqual(await response.json(), { status: "ok" })
    assert.match(response.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/)
  })

  it("readyz - 200 when the store answers and the upstream is discovered", async () => {
    const { gateway } = await setup()
    const response = await fetch(`${gateway.url}/readyz`)
    assert.strictEqual(response.status, 200)
    assert.deepStrictEqual(await response.json(), {
      status: "ready",
      checks: { store: "ok", upstream: "ok" },
    })
  })

  it("readyz - 503 when the store fails", async () => {
    const failing = Store.layerTest(() => ({
      get: () => Effect.fail(new OAuthError.StoreError({ operation: "get", description: "down" })),
    }))
    const { gateway } = await setup({ store: failing })
    const response = await fetch(`${gateway.url}/readyz`)
    assert.strictEqual(response.status, 503)
    assert.deepStrictEqual(await response.json(), {
      status: "unavailable",
      checks: { store: "fail", upstream: "ok" },
    })
  })

  it("resource - a valid bearer is forwarded with the identity; forged headers never reach the target", async () => {
    const { gateway, target, issue } = await setup()
    const token = await issue({ sub: "alice", email: "alice@example.com", email_verified: true }, [
      "openid",
      "mcp:tools",
    ])
    const response = await fetch(`${gateway.url}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "x-auth-request-user": "mallory",
        "x-auth-request-email": "mallory@evil.example",
        "x-auth-request-scopes": "admin",
        "x-auth-request-client-id": "trusted",
        "x-forwarded-access-token": "forged",
        "content-type": "application/json",
      },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    })
    assert.strictEqual(response.status, 200)
    assert.strictEqual(response.headers.get("mcp-session-id"), "session-from-target")
    const seen = target.seen[0]!
    assert.strictEqual(seen.url, "/mcp")
    assert.strictEqual(seen.body, '{"jsonrpc":"2.0","id":1,"method":"ping"}')
    assert.isUndefined(seen.headers.authorization)
    assert.isUndefined(seen.headers["x-forwarded-access-token"])
    assert.strictEqual(seen.headers["x-auth-request-user"], "alice")
    assert.strictEqual(seen.headers["x-auth-request-email"], "alice@example.com")
    // Resolved scopes, normalised (sorted, deduplicated) by core.
    assert.strictEqual(seen.headers["x-auth-request-scopes"], "mcp:tools openid")
    assert.strictEqual(seen.headers["x-auth-request-client-id"], "client-1")
  })

  it("resource - with OIDC_PROXY_FORWARD_ACCESS_TOKEN=true the upstream access token is passed on", async () => {
    const { gateway, target, issue } = await setup({ overrides: { OIDC_PROXY_FORWARD_ACCESS_TOKEN: "true" } })
    const token = await issue({ sub: "alice" })
    const response = await fetch(`${gateway.url}/mcp`, {
      headers: { authorization: `Bearer ${token}`, "x-forwarded-access-token": "forged" },
    })
    assert.strictEqual(response.status, 200)
    assert.match(String(target.seen[0]!.headers["x-forwarded-access-token"]), /^upstream-access-ts-/)
  })

  it("resource - no bearer is 401 and nothing reaches the target", async () => {
    const { gateway, target } = await setup()
    const response = await fetch(`${gateway.url}/mcp`, { method: "POST", body: "{}" })
    assert.strictEqual(response.status, 401)
    assert.include(response.headers.get("www-authenticate") ?? "", "resource_metadata=")
    assert.strictEqual(target.seen.length, 0)
  })

  it("resource - a missing required scope is 403 insufficient_scope, counted as a 403 check", async () => {
    const { gateway, target, issue } = await setup({ config: { required_scopes: ["admin"] } })
    const token = await issue({ sub: "alice" }, ["openid"])
    const response = await fetch(`${gateway.url}/mcp`, { headers: { authorization: `Bearer ${token}` } })
    assert.strictEqual(response.status, 403)
    assert.include(response.headers.get("www-authenticate") ?? "", 'error="insufficient_scope"')
    assert.strictEqual(target.seen.length, 0)
    assert.include(gateway.metrics.render(), 'oidc_proxy_bearer_checks_total{result="403"} 1')
  })

  it("resource - an unreachable target is 502", async () => {
    const { gateway, target, issue } = await setup()
    await target.close()
    const token = await issue({ sub: "alice" })
    const response = await fetch(`${gateway.url}/mcp`, { headers: { authorization: `Bearer ${token}` } })
    assert.strictEqual(response.status, 502)
    assert.strictEqual((await response.json()).error, "bad_gateway")
  })

  it("resource - fast path: a remembered bearer reaches the target with exactly the headers of the first (Fetch) forward", async () => {
    const { gateway, target, issue } = await setup()
    const token = await issue({ sub: "alice", email: "alice@example.com", email_verified: true }, [
      "openid",
      "mcp:tools",
    ])
    const send = () =>
      fetch(`${gateway.url}/mcp/sub?x=1`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "x-auth-request-user": "mallory",
          "x-forwarded-access-token": "forged",
          cookie: "oidcp_consent=secret; app=1; oidcp_x=2",
          "content-type": "application/json",
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      })
    const first = await send() // verified through WebHandler, then remembered
    const second = await send() // answered by the synchronous check and forwarded with undici
    for (const response of [first, second]) {
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("mcp-session-id"), "session-from-target")
      assert.match(response.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/)
      assert.deepStrictEqual(await response.json(), { path: "/mcp/sub?x=1" })
    }
    assert.strictEqual(target.seen.length, 2)
    const [a, b] = target.seen as [(typeof target.seen)[0], (typeof target.seen)[0]]
    const identity = (h: typeof a.headers) => {
      const { host: _h, connection: _c, "content-length": _l, "transfer-encoding": _t, ...rest } = h
      return rest
    }
    assert.deepStrictEqual(identity(b.headers), identity(a.headers))
    assert.strictEqual(b.body, a.body)
    // The fast path keeps the caller's `content-length` (the body goes through unchanged).
    assert.strictEqual(b.headers["content-length"], String(Buffer.byteLength(b.body)))
    assert.isUndefined(b.headers["transfer-encoding"])
    assert.strictEqual(b.headers["cookie"], "app=1")
    assert.strictEqual(b.headers["x-auth-request-user"], "alice")
    assert.isUndefined(b.headers.authorization)
    assert.isUndefined(b.headers["x-forwarded-access-token"])
    const rendered = gateway.metrics.render()
    assert.include(rendered, 'oidc_proxy_bearer_checks_total{result="allow"} 2')
    assert.include(rendered, 'oidc_proxy_http_requests_total{endpoint="resource",status_class="2xx"} 2')
  })

  it("resource - fast path: server-sent events stream through chunk by chunk", async () => {
    // The second event is written only once the client has read the first: no timing involved.
    let release: () => void = () => {}
    const { gateway, issue } = await setup({
      respond: (_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" })
        res.write("data: one\n\n")
        release = () => res.end("data: two\n\n")
      },
    })
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}`, "x-test-raw": "1" }
    const warm = await fetch(`${gateway.url}/mcp`, { headers }) // remembered from here on
    release()
    await warm.text()
    const response = await fetch(`${gateway.url}/mcp`, { headers })
    assert.strictEqual(response.headers.get("content-type"), "text/event-stream")
    const reader = response.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    assert.strictEqual(first, "data: one\n\n")
    release()
    let rest = ""
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      rest += new TextDecoder().decode(value)
    }
    assert.strictEqual(rest, "data: two\n\n")
  })

  it("resource - fast path: a client going away aborts the target request", async () => {
    let targetClosed: () => void = () => {}
    const closed = new Promise<void>((resolve) => {
      targetClosed = resolve
    })
    const { gateway, issue } = await setup({
      respond: (req, res) => {
        if (req.headers["x-test-first"] === "1") {
          res.writeHead(200, { "content-type": "text/plain" })
          res.end("ok")
          return
        }
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write("data: one\n\n")
        res.once("close", () => targetClosed())
      },
    })
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}`, "x-test-raw": "1" }
    await (await fetch(`${gateway.url}/mcp`, { headers: { ...headers, "x-test-first": "1" } })).text()
    const controller = new AbortController()
    const response = await fetch(`${gateway.url}/mcp`, { headers, signal: controller.signal })
    const reader = response.body!.getReader()
    assert.strictEqual(new TextDecoder().decode((await reader.read()).value), "data: one\n\n")
    controller.abort()
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error("target request not aborted")), 2000)),
    ])
  })

  it("resource - fast path: a large answer and a large body pass through whole (backpressure)", async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, "abcdefgh")
    const { gateway, target, issue } = await setup({
      respond: (_req, res, body) => {
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "x-body-length": String(body.length),
        })
        res.end(big)
      },
    })
    const token = await issue({ sub: "alice" })
    const send = async () => {
      const response = await fetch(`${gateway.url}/mcp/upload`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: big.subarray(0, 3 * 1024 * 1024),
      })
      assert.strictEqual(response.status, 200)
      assert.strictEqual(response.headers.get("x-body-length"), String(3 * 1024 * 1024))
      // Read slowly at first, so the gateway has to wait for the client to drain.
      const reader = response.body!.getReader()
      let received = 0
      let reads = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        received += value.byteLength
        if (reads++ < 5) await new Promise((r) => setTimeout(r, 20))
      }
      assert.strictEqual(received, big.length)
    }
    await send() // remembered from here on
    await send()
    assert.strictEqual(target.seen.length, 2)
  })

  it("resource - fast path: a path the URL parser rewrites is forwarded as the Fetch path forwards it", async () => {
    const { gateway, target, issue } = await setup()
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}` }
    await (await fetch(`${gateway.url}/mcp`, { headers })).text() // remembered from here on
    const { request } = await import("node:http")
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const url = new URL(gateway.url)
        const req = request({ host: url.hostname, port: url.port, path, headers }, (res) => {
          let body = ""
          res.on("data", (c: Buffer) => {
            body += c.toString()
          })
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
        })
        req.on("error", reject)
        req.end()
      })
    // A dot-segment is refused (issue 19: routed, checked and forwarded paths are one string).
    const seen = target.seen.length
    assert.strictEqual((await raw("/mcp/a/../b?q='x'")).status, 400)
    assert.strictEqual(target.seen.length, seen)
    const answer = await raw("/mcp/b?q='x'")
    assert.strictEqual(answer.status, 200)
    assert.deepStrictEqual(JSON.parse(answer.body), { path: "/mcp/b?q=%27x%27" })
    assert.strictEqual(target.seen.at(-1)?.url, "/mcp/b?q=%27x%27")
  })

  it("resource - fast path: an empty body and a caller gone mid-body (target not asked, counted as 5xx)", async () => {
    const { gateway, target, issue } = await setup()
    const token = await issue({ sub: "alice" })
    const post = (body: string) =>
      fetch(`${gateway.url}/mcp`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body })
    await (await post("{}")).text() // remembered from here on
    const empty = await post("")
    assert.strictEqual(empty.status, 200)
    await empty.text()
    assert.strictEqual(target.seen.at(-1)?.body, "")
    assert.strictEqual(target.seen.at(-1)?.headers["content-length"], "0")
    const seen = target.seen.length
    const { connect } = await import("node:net")
    const url = new URL(gateway.url)
    const socket = connect(Number(url.port), url.hostname)
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
    socket.write(
      `POST /mcp HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${token}\r\ncontent-length: 100\r\n\r\n{"jsonrpc"`,
    )
    // Waits on the gateway's own counters, not on fixed sleeps (a loaded machine may be slower).
    const eventually = async (text: string) => {
      const deadline = performance.now() + 5000
      while (!gateway.metrics.render().includes(text)) {
        if (performance.now() > deadline) assert.include(gateway.metrics.render(), text)
        await new Promise((r) => setTimeout(r, 10))
      }
    }
    await eventually('oidc_proxy_bearer_checks_total{result="allow"} 3') // headers in, body pending
    socket.destroy()
    await eventually('oidc_proxy_http_requests_total{endpoint="resource",status_class="5xx"} 1')
    assert.strictEqual(target.seen.length, seen)
    // Never sent to the target: no target latency observed.
    assert.notInclude(gateway.metrics.render(), 'outcome="error"')
    const after = await post('{"id":2}')
    assert.strictEqual(after.status, 200)
    await after.text()
  })

  it("resource - fast path: interim answers of the target (103 Early Hints) are not passed on", async () => {
    const { gateway, issue } = await setup({
      respond: (_req, res) => {
        res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" })
        res.writeHead(200, { "content-type": "application/json" })
        res.end('{"ok":true}')
      },
    })
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}`, "x-test-raw": "1" }
    for (let i = 0; i < 2; i++) {
      // First through WebHandler (then remembered), then the fast path.
      const response = await fetch(`${gateway.url}/mcp`, { headers })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(await response.json(), { ok: true })
    }
    assert.include(
      gateway.metrics.render(),
      'oidc_proxy_http_requests_total{endpoint="resource",status_class="2xx"} 2',
    )
  })

  it("resource - fast path: a field named like an Object.prototype member is forwarded as the Fetch path forwards it", async () => {
    const { gateway, target, issue } = await setup()
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}`, constructor: "x", "x-other": "y" }
    for (let i = 0; i < 2; i++) await (await fetch(`${gateway.url}/mcp`, { headers })).text()
    assert.strictEqual(target.seen.length, 2)
    for (const seen of target.seen) {
      assert.strictEqual((seen.headers as Record<string, unknown>)["constructor"], "x")
      assert.strictEqual(seen.headers["x-other"], "y")
    }
    assert.include(
      gateway.metrics.render(),
      'oidc_proxy_bearer_checks_total{result="allow"} 2',
      "the second request took the fast path",
    )
  })

  it("resource - fast path: many long-lived streams do not hold up other requests (no connection cap)", async () => {
    const held: Array<() => void> = []
    const { gateway, issue } = await setup({
      respond: (req, res) => {
        if (req.headers["x-test-raw"] !== "1") {
          res.writeHead(200, { "content-type": "text/plain" })
          res.end("ok")
          return
        }
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write("data: open\n\n")
        held.push(() => res.end())
      },
    })
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}` }
    await (await fetch(`${gateway.url}/mcp`, { headers })).text() // remembered from here on
    // More than the 256 connections the target's pool used to be capped at.
    const streams = 300
    const controller = new AbortController()
    try {
      const opened = Array.from({ length: streams }, async () => {
        const response = await fetch(`${gateway.url}/mcp`, {
          headers: { ...headers, "x-test-raw": "1" },
          signal: controller.signal,
        })
        const first = await response.body!.getReader().read()
        assert.strictEqual(new TextDecoder().decode(first.value), "data: open\n\n")
      })
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        Promise.all(opened),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`not all ${streams} streams opened (${held.length})`)),
            10_000,
          )
        }),
      ]).finally(() => clearTimeout(timer))
      const response = await fetch(`${gateway.url}/mcp`, { headers })
      assert.strictEqual(response.status, 200)
      await response.text()
    } finally {
      for (const release of held) release()
      controller.abort()
    }
  }, 30_000)

  it("resource - fast path: a target gone after the first request is the same 502 JSON", async () => {
    const { gateway, target, issue } = await setup()
    const token = await issue({ sub: "alice" })
    const headers = { authorization: `Bearer ${token}` }
    assert.strictEqual((await fetch(`${gateway.url}/mcp`, { headers })).status, 200)
    await target.close()
    const response = await fetch(`${gateway.url}/mcp`, { headers })
    assert.strictEqual(response.status, 502)
    assert.strictEqual(response.headers.get("content-type"), "application/json")
    assert.deepStrictEqual(await response.json(), {
      error: "bad_gateway",
      error_description: "The protected resource is unreachable",
    })
    assert.include(
      gateway.metrics.render(),
      'oidc_proxy_http_requests_total{endpoint="resource",status_class="5xx"} 1',
    )
  })

  it("metrics - served on the metrics listener only, counting requests, bearer checks and latency", async () => {
    const { gateway, issue } = await setup()
    const token = await issue({ sub: "alice" })
    await (await fetch(`${gateway.url}/mcp`, { headers: { authorization: `Bearer ${token}` } })).text()
    await (await fetch(`${gateway.url}/mcp`, { headers: { authorization: "Bearer not-a-token" } })).text()
    await (await fetch(`${gateway.url}/healthz`)).text()
    const onMain = await fetch(`${gateway.url}/metrics`)
    assert.strictEqual(onMain.status, 404)
    await onMain.text()
    assert.isDefined(gateway.metricsUrl)
    const response = await fetch(`${gateway.metricsUrl}/metrics`)
    assert.strictEqual(response.status, 200)
    assert.include(response.headers.get("content-type") ?? "", "text/plain")
    const text = await response.text()
    assert.include(text, 'oidc_proxy_http_requests_total{endpoint="resource",status_class="2xx"} 1')
    assert.include(text, 'oidc_proxy_http_requests_total{endpoint="resource",status_class="4xx"} 1')
    assert.include(text, 'oidc_proxy_http_requests_total{endpoint="healthz",status_class="2xx"} 1')
    assert.include(text, 'oidc_proxy_bearer_checks_total{result="allow"} 1')
    assert.include(text, 'oidc_proxy_bearer_checks_total{result="401"} 1')
    assert.include(text, 'oidc_proxy_target_request_duration_seconds_count{outcome="ok"} 1')
    assert.notInclude(text, token)
  })

  it("shutdown - an in-flight request finishes; new connections are refused", async () => {
    let release: () => void = () => {}
    const { gateway, issue } = await setup({
      respond: (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.write("started;")
        release = () => res.end("finished")
      },
    })
    const token = await issue({ sub: "alice" })
    const response = await fetch(`${gateway.url}/mcp`, { headers: { authorization: `Bearer ${token}` } })
    const stopped = gateway.shutdown()
    await new Promise((r) => setTimeout(r, 50))
    const refused = await fetch(`${gateway.url}/healthz`).then(
      () => false,
      () => true,
    )
    assert.isTrue(refused)
    release()
    assert.strictEqual(await response.text(), "started;finished")
    await stopped
  })
})

describe("Gateway (OTLP)", () => {
  it("traces - spans are exported to OIDC_PROXY_OTLP_ENDPOINT, flushed on shutdown", async () => {
    const posts: Array<string> = []
    const collector = await fakeTarget((req, res, body) => {
      posts.push(`${req.url} ${body}`)
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
    closers.push(collector.close)
    const { gateway, issue } = await setup({ overrides: { OIDC_PROXY_OTLP_ENDPOINT: collector.url } })
    const token = await issue({ sub: "alice" })
    await (await fetch(`${gateway.url}/mcp`, { headers: { authorization: `Bearer ${token}` } })).text()
    await gateway.shutdown()
    const traces = posts.filter((p) => p.startsWith("/v1/traces "))
    assert.isAtLeast(traces.length, 1, posts.map((p) => p.slice(0, 40)).join("\n"))
    assert.include(traces.join("\n"), "oidc-proxy.forward")
    assert.notInclude(posts.join("\n"), token)
  })
})

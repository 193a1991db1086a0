/**
 * The gateway's MCP policy and audit over real HTTP on 127.0.0.1: a policy file decides each
 * JSON-RPC call before the target sees it (also for a bearer the fast path remembers), a missing
 * scope is a step-up challenge, bad bodies get JSON-RPC errors, SIGHUP-style reloads swap only a
 * good file, and every call leaves one audit line.
 *
 * @since 0.1.0
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import type { IncomingMessage, ServerResponse } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import type * as Gateway from "../src/Gateway.ts"
import { type FakeTarget, fakeTarget, sendRaw, startInProcess } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

const baseUrl = "http://127.0.0.1:8080"

const policyYaml = `# test policy
default: deny
rules:
  - id: handshake
    effect: allow
    methods: [initialize, "notifications/*", ping, tools/list]
  - id: no-admin
    effect: deny
    tools: ["admin_*"]
  - id: writer
    effect: allow
    tools: [write_file]
    scopes: [mcp:write]
  - id: readers
    effect: allow
    tools: ["read_*"]
`

interface Setup {
  readonly gateway: Gateway.Gateway
  readonly target: FakeTarget
  readonly dir: string
  readonly policyPath: string
  readonly token: string
  readonly post: (body: string, headers?: Record<string, string>) => Promise<Response>
  /** A bearer for another subject, not yet remembered: its first call takes the full path. */
  readonly fresh: () => Promise<string>
}

const setup = async (
  overrides: Record<string, string> = {},
  policy = policyYaml,
  options: Gateway.Options = {},
  respond?: Parameters<typeof fakeTarget>[0],
): Promise<Setup> => {
  const dir = mkdtempSync(join(tmpdir(), "mcp-policy-"))
  const policyPath = join(dir, "policy.yaml")
  writeFileSync(policyPath, policy)
  const target = await fakeTarget(respond)
  closers.push(target.close)
  const { gateway, services } = await startInProcess(
    baseUrl,
    target.url,
    { OIDC_PROXY_POLICY: policyPath, ...overrides },
    options,
  )
  closers.unshift(gateway.shutdown)
  const token = await services.issue({ sub: "alice", email: "alice@example.com", email_verified: true }, [
    "openid",
    "mcp:read",
  ])
  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body,
    })
  let subjects = 0
  const fresh = () =>
    services.issue({ sub: `user-${++subjects}`, email: "user@example.com", email_verified: true }, [
      "openid",
      "mcp:read",
    ])
  return { gateway, target, dir, policyPath, token, post, fresh }
}

const call = (name: string, id: number | string = 1) =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: { secret: "s3" } } })

describe("Gateway MCP policy", () => {
  it("tools/call - a denied tool is a JSON-RPC error and never reaches the target, also once the bearer is remembered", async () => {
    const { target, post } = await setup()
    for (let i = 0; i < 3; i++) {
      const response = await post(call("admin_drop", i))
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(await response.json(), {
        jsonrpc: "2.0",
        id: i,
        error: { code: -32001, message: "Forbidden: the gateway's policy denies this call" },
      })
    }
    // No rule matches `other`: the default (deny) applies.
    assert.strictEqual(
      ((await (await post(call("other"))).json()) as { error: { code: number } }).error.code,
      -32001,
    )
    assert.strictEqual(target.seen.length, 0)
  })

  it("tools/call - an allowed call reaches the target with its bytes unchanged", async () => {
    const { target, post } = await setup()
    const body = ` { "jsonrpc" : "2.0", "id": 7, "method": "tools/call", "params": {"name": "read_file", "arguments": {"p": "é"}} }\n`
    for (let i = 0; i < 2; i++) assert.strictEqual((await post(body)).status, 200)
    assert.strictEqual(target.seen.length, 2)
    for (const seen of target.seen) assert.strictEqual(seen.body, body)
  })

  it("tools/call - a rule whose scopes the token lacks answers 403 insufficient_scope naming every scope needed", async () => {
    const { target, post } = await setup()
    const response = await post(call("write_file"))
    assert.strictEqual(response.status, 403)
    assert.strictEqual(
      response.headers.get("www-authenticate"),
      'Bearer resource_metadata="http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp", scope="mcp:read mcp:write openid", error="insufficient_scope", error_description="The request requires the scope: mcp:write"',
    )
    assert.deepInclude(await response.json(), { error: "insufficient_scope" })
    assert.strictEqual(target.seen.length, 0)
  })

  it("bodies - malformed, not JSON-RPC, wrong type or charset, a byte order mark, too large: precise refusals, nothing forwarded", async () => {
    const { target, post, gateway, token } = await setup({ OIDC_PROXY_POLICY_MAX_BODY: "1024" })
    const expect = async (response: Response, status: number, code: number) => {
      assert.strictEqual(response.status, status)
      const body = (await response.json()) as { jsonrpc: string; id: unknown; error: { code: number } }
      assert.strictEqual(body.jsonrpc, "2.0")
      assert.strictEqual(body.id, null)
      assert.strictEqual(body.error.code, code)
    }
    await expect(await post("{"), 400, -32700)
    await expect(await post('{"jsonrpc":"2.0","id":1}'), 400, -32600)
    await expect(await post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}'), 400, -32602)
    await expect(await post(call("read_x"), { "content-type": "text/plain" }), 415, -32600)
    // Another charset: the target could decode other text (another tool name) from the same bytes.
    for (const type of [
      "application/json; charset=iso-8859-1",
      "application/json; charset=utf-16",
      'application/json; charset="UTF-16LE"',
      "application/json; charset=utf-8; charset=latin1",
      'application/json; x="; charset=latin1"',
    ]) {
      const response = await post(call("read_x"), { "content-type": type })
      assert.strictEqual(response.status, 415, type)
      const body = (await response.json()) as { error: { code: number; message: string } }
      assert.strictEqual(body.error.code, -32600)
      assert.include(body.error.message, "charset", type)
    }
    assert.include(
      (
        (await (
          await post(call("read_x"), { "content-type": "application/json; charset=iso-8859-1" })
        ).json()) as {
          error: { message: string }
        }
      ).error.message,
      "iso-8859-1",
    )
    // A byte order mark: refused, not stripped (servers differ on it; RFC 8259 §8.1).
    await expect(await post(`\uFEFF${call("read_x")}`), 400, -32700)
    const big = call(`read_${"x".repeat(2000)}`)
    await expect(await post(big), 413, -32600)
    // Without a length: read only up to the bound, then refused.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big))
        controller.close()
      },
    })
    const chunked = await fetch(`${gateway.url}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit)
    await expect(chunked, 413, -32600)
    assert.strictEqual(target.seen.length, 0)
    // UTF-8 named in any letter case, quoted or not, is read and decided as usual.
    for (const type of [
      "application/json; charset=utf-8",
      'application/json; CHARSET="UTF-8"',
      "Application/JSON;charset=utf8",
    ])
      assert.strictEqual((await post(call("read_x"), { "content-type": type })).status, 200, type)
    assert.strictEqual(target.seen.length, 3)
  })

  it("batch - one denied element refuses the whole batch with an error per request; an allowed batch passes", async () => {
    const { target, post } = await setup()
    const denied = await post(
      `[${call("read_a", 1)},{"jsonrpc":"2.0","method":"notifications/initialized"},${call("admin_x", "b")}]`,
    )
    assert.strictEqual(denied.status, 200)
    const errors = (await denied.json()) as Array<{ id: unknown; error: { code: number; message: string } }>
    assert.deepStrictEqual(
      errors.map((e) => [e.id, e.error.code]),
      [
        [1, -32001],
        ["b", -32001],
      ],
    )
    assert.match(errors[0]!.error.message, /another message of this batch/)
    assert.strictEqual(target.seen.length, 0)
    assert.strictEqual((await post(`[${call("read_a", 1)},${call("read_b", 2)}]`)).status, 200)
    assert.strictEqual(target.seen.length, 1)
  })

  it("fuzz - random bodies and batch shapes: never a 5xx, never a denied or unknown tool forwarded", async () => {
    const { target, post } = await setup()
    const names = fc.constantFrom("read_a", "admin_x", "write_file", "other", "")
    const message = fc.oneof(
      fc.record({
        jsonrpc: fc.constantFrom("2.0", "2", undefined),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null), fc.constant(undefined)),
        method: fc.constantFrom("tools/call", "ping", "resources/read", "initialize", "x"),
        params: fc.oneof(fc.record({ name: names }), fc.record({ uri: names }), fc.constant(null)),
      }),
      fc.jsonValue({ maxDepth: 2 }),
    )
    const body = fc.oneof(
      message.map((m) => JSON.stringify(m)),
      fc.array(message, { maxLength: 4 }).map((a) => JSON.stringify(a)),
      fc.string({ maxLength: 40 }),
    )
    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const response = await post(text)
        await response.arrayBuffer()
        assert.isBelow(response.status, 500)
      }),
      { numRuns: 60 },
    )
    for (const seen of target.seen) {
      const parsed = JSON.parse(seen.body) as unknown
      for (const m of (Array.isArray(parsed) ? parsed : [parsed]) as Array<{
        method?: string
        params?: { name?: string }
      }>)
        if (m.method === "tools/call") assert.match(String(m.params?.name), /^read_/, seen.body)
    }
  })

  it("GET - the SSE stream carries no call and passes", async () => {
    const { target, gateway, token } = await setup()
    const response = await fetch(`${gateway.url}/mcp`, { headers: { authorization: `Bearer ${token}` } })
    assert.strictEqual(response.status, 200)
    assert.strictEqual(target.seen.length, 1)
  })

  it("GET resumption - a list answer replayed on the GET stream after Last-Event-ID is filtered too", async () => {
    // The server replays its answer to an earlier tools/list (whose POST the gateway read and
    // finished with) on the GET stream: the pending request ids are unknown there.
    const replay = (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== "GET") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end('{"jsonrpc":"2.0","id":1,"result":{}}')
        return
      }
      res.writeHead(200, { "content-type": "text/event-stream" })
      const answer = { jsonrpc: "2.0", id: 2, result: { tools: [{ name: "read_a" }, { name: "admin_x" }] } }
      res.end(
        `id: e2\nevent: message\ndata: ${JSON.stringify(answer)}\n\nevent: message\ndata: ${JSON.stringify([{ ...answer, id: "b" }])}\n\n`,
      )
    }
    const { gateway, token, target } = await setup({}, policyYaml, {}, replay)
    const resume = () =>
      fetch(`${gateway.url}/mcp`, {
        headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", "last-event-id": "e1" },
      })
    const response = await resume()
    assert.strictEqual(response.status, 200)
    const text = await response.text()
    assert.include(text, '"read_a"')
    assert.notInclude(text, "admin_x")
    assert.include(text, "id: e2")
    assert.strictEqual(target.seen[0]?.headers["last-event-id"], "e1")
  })

  // A GET with a bearer the fast path remembers goes to the full path whenever lists are filtered.
  it("GET resumption - also once the bearer is remembered (the GET leaves the fast path)", async () => {
    const replay = (req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { "content-type": req.method === "GET" ? "text/event-stream" : "application/json" })
      const answer = { jsonrpc: "2.0", id: 2, result: { tools: [{ name: "read_a" }, { name: "admin_x" }] } }
      res.end(
        req.method === "GET" ? `data: ${JSON.stringify(answer)}\n\n` : '{"jsonrpc":"2.0","id":1,"result":{}}',
      )
    }
    const { gateway, token, post } = await setup({}, policyYaml, {}, replay)
    const ping = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
    assert.strictEqual((await post(ping)).status, 200)
    assert.strictEqual((await post(ping)).status, 200)
    const response = await fetch(`${gateway.url}/mcp`, {
      headers: { authorization: `Bearer ${token}`, accept: "text/event-stream", "last-event-id": "e1" },
    })
    const text = await response.text()
    assert.include(text, '"read_a"')
    assert.notInclude(text, "admin_x")
  })

  it("DELETE - a body outside a POST is refused, also once the bearer is remembered", async () => {
    const { target, gateway, token } = await setup()
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${gateway.url}/mcp`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: call("admin_x"),
      })
      assert.strictEqual(response.status, 400)
      assert.deepInclude(((await response.json()) as { error: object }).error, { code: -32600 })
    }
    assert.strictEqual(target.seen.length, 0)
  })

  it("reload - a good file takes effect, a bad one keeps the policy in force and names line and field", async () => {
    const { gateway, target, post, policyPath } = await setup()
    assert.strictEqual((await post(call("read_a"))).status, 200)
    writeFileSync(policyPath, `default: allow\nrules:\n  - effect: deny\n    tools: ["read_*"]\n`)
    assert.isTrue(Result.isSuccess(gateway.reloadPolicy()))
    const denied = (await (await post(call("read_a"))).json()) as { error?: { code: number } }
    assert.strictEqual(denied.error?.code, -32001)
    writeFileSync(policyPath, `default: allow\nrules:\n  - effect: deny\n    tool: ["read_*"]\n`)
    const bad = gateway.reloadPolicy()
    assert.isTrue(Result.isFailure(bad))
    if (Result.isFailure(bad)) assert.match(bad.failure.join("\n"), /policy\.yaml:4: rules\[0\]\.tool: /)
    const still = (await (await post(call("read_a"))).json()) as { error?: { code: number } }
    assert.strictEqual(still.error?.code, -32001, "the previous policy is still in force")
    assert.strictEqual(target.seen.length, 1)
  })

  it("start - a policy file that does not decode stops the start, naming the variable, line and field", async () => {
    const error = await setup({}, `default: allow\nrules:\n  - effect: maybe\n`).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.match(String(error), /OIDC_PROXY_POLICY: .*policy\.yaml:3: rules\[0\]\.effect: /)
  })

  it("audit - one JSON line per call with subject, client, method, target, decision, rule, status; no token or arguments", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mcp-audit-"))
    const file = join(dir, "audit.log")
    const { post, token } = await setup({ OIDC_PROXY_AUDIT: `file:${file}` })
    await (await post(call("read_a", 1))).text()
    await (await post(call("admin_x", 2))).text()
    await (await post(call("write_file", 3))).text()
    await (await post("{")).text()
    const text = readFileSync(file, "utf8")
    assert.notInclude(text, token)
    assert.notInclude(text, "s3")
    const lines = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    assert.deepStrictEqual(
      lines.map(({ time: _t, request_id: _r, latency_ms: _l, ...rest }) => rest),
      [
        {
          type: "mcp_audit",
          subject: "alice",
          client_id: "client-1",
          method: "tools/call",
          target: "read_a",
          decision: "allow",
          rule: "readers",
          status: 200,
        },
        {
          type: "mcp_audit",
          subject: "alice",
          client_id: "client-1",
          method: "tools/call",
          target: "admin_x",
          decision: "deny",
          rule: "no-admin",
          status: 200,
        },
        {
          type: "mcp_audit",
          subject: "alice",
          client_id: "client-1",
          method: "tools/call",
          target: "write_file",
          decision: "step_up",
          rule: "writer",
          status: 403,
        },
        {
          type: "mcp_audit",
          subject: "alice",
          client_id: "client-1",
          method: null,
          target: null,
          decision: "deny",
          rule: "invalid",
          status: 400,
        },
      ],
    )
    for (const line of lines) {
      assert.match(String(line["time"]), /^\d{4}-\d\d-\d\dT/)
      assert.isNumber(line["latency_ms"])
      assert.isString(line["request_id"])
    }
  })

  it("fast path - a remembered bearer's allowed call is decided and forwarded there, with the same audit line; a denial still gets the gate's answer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mcp-audit-"))
    const file = join(dir, "audit.log")
    const { gateway, target, post } = await setup({ OIDC_PROXY_AUDIT: `file:${file}` })
    const body = call("read_a", 5)
    for (let i = 0; i < 3; i++) assert.strictEqual((await post(body)).status, 200)
    const denied = await post(call("admin_x", 6))
    assert.deepStrictEqual(((await denied.json()) as { error: { code: number } }).error.code, -32001)
    // A body whose charset is not UTF-8 is never decided on the fast path.
    await (await post(body, { "content-type": "application/json; charset=iso-8859-1" })).text()
    const metrics = gateway.metrics.render()
    assert.include(metrics, 'oidc_proxy_resource_path_total{path="fast"} 2', "the 2nd and 3rd call")
    assert.include(
      metrics,
      'oidc_proxy_resource_path_total{path="full"} 3',
      "the first, the denial, the charset",
    )
    assert.deepStrictEqual(
      target.seen.slice(0, 3).map((seen) => [seen.body, seen.headers["content-length"]]),
      Array.from({ length: 3 }, () => [body, String(Buffer.byteLength(body))]),
    )
    const lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .map(({ time: _t, request_id: _r, latency_ms: _l, ...rest }) => rest)
    assert.deepStrictEqual(
      lines.slice(0, 3),
      Array.from({ length: 3 }, () => lines[0]),
    )
    assert.deepInclude(lines[0], { target: "read_a", decision: "allow", rule: "readers", status: 200 })
    assert.deepInclude(lines[3], { target: "admin_x", decision: "deny", rule: "no-admin", status: 200 })
  })

  it("fast path - list answers (JSON, event stream) are filtered there as on the full path; an encoded or over-long one is a 502", async () => {
    const tools = ["read_a", "admin_x", "write_file", "other"].map((name) => ({ name, inputSchema: {} }))
    const answer = (id: unknown) => JSON.stringify({ jsonrpc: "2.0", id, result: { tools } })
    const target = await fakeTarget((req, res, body) => {
      const id = (JSON.parse(body) as { id: unknown }).id
      const kind = req.headers["x-kind"]
      if (kind === "sse") {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(`event: message\ndata: ${answer(id).slice(0, 20)}`)
        res.end(`${answer(id).slice(20)}\n\n`)
      } else if (kind === "gzip") {
        res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" })
        res.end(gzipSync(answer(id)))
      } else if (kind === "big") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(`${answer(id)}${" ".repeat(4096)}`)
      } else {
        res.writeHead(200, {
          "content-type": "application/json",
          "content-length": String(answer(id).length),
        })
        res.end(answer(id))
      }
    })
    closers.push(target.close)
    const { gateway, post } = await setup({ OIDC_PROXY_TARGET: `${target.url}/mcp` }, policyYaml, {
      listFilterLimits: { maxResponseBytes: 2048 },
    })
    const list = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" })
    const names = (text: string) =>
      (
        JSON.parse(text.replace(/^event: message\ndata: /, "")) as {
          result: { tools: Array<{ name: string }> }
        }
      ).result.tools.map((t) => t.name)
    for (const kind of ["json", "json", "sse", "sse"]) {
      const response = await post(list, { "x-kind": kind })
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(names(await response.text()), ["read_a", "write_file"], kind)
    }
    assert.include(gateway.metrics.render(), 'oidc_proxy_resource_path_total{path="fast"} 3')
    for (const kind of ["gzip", "big"]) {
      const response = await post(list, { "x-kind": kind })
      assert.strictEqual(response.status, 502, kind)
      assert.notInclude(await response.text(), "admin_x")
    }
  })

  it("list answers - one still encoded or over-long is the same 502 on both paths; a body fetch decoded is sent plain; a 204 carries no length", async () => {
    const tools = ["read_a", "admin_x"].map((name) => ({ name, inputSchema: {} }))
    const answer = (id: unknown) => JSON.stringify({ jsonrpc: "2.0", id, result: { tools } })
    const target = await fakeTarget((req, res, body) => {
      const id = (JSON.parse(body) as { id: unknown }).id
      const kind = String(req.headers["x-kind"])
      if (kind === "204") {
        res.writeHead(204, { "content-type": "application/json" })
        res.end()
      } else if (kind === "big") {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(`${answer(id)}${" ".repeat(4096)}`)
      } else if (kind === "gzip, gzip") {
        res.writeHead(200, { "content-type": "application/json", "content-encoding": kind })
        res.end(gzipSync(gzipSync(answer(id))))
      } else {
        // `fetch` decodes none of a list naming a coding it does not know.
        res.writeHead(200, { "content-type": "application/json", "content-encoding": kind })
        res.end(kind.includes("gzip") ? gzipSync(answer(id)) : answer(id))
      }
    })
    closers.push(target.close)
    const { post: postAs, fresh } = await setup({ OIDC_PROXY_TARGET: `${target.url}/mcp` }, policyYaml, {
      listFilterLimits: { maxResponseBytes: 2048 },
    })
    const list = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" })
    const bearers = new Map<string, string>()
    // Each kind under its own bearer: its first call takes the full path, the others the fast path.
    const post = async (body: string, kind: string) => {
      const token = bearers.get(kind) ?? (await fresh())
      bearers.set(kind, token)
      return postAs(body, { authorization: `Bearer ${token}`, "x-kind": kind })
    }
    const refusals: Record<string, string> = {
      "identity, gzip": "The MCP server's list response is encoded (Content-Encoding): it cannot be filtered",
      "gzip, x-unknown":
        "The MCP server's list response is encoded (Content-Encoding): it cannot be filtered",
      "x-unknown": "The MCP server's list response is encoded (Content-Encoding): it cannot be filtered",
      big: "The MCP server's list response exceeds 2048 bytes",
    }
    for (let i = 0; i < 3; i++) {
      for (const [kind, description] of Object.entries(refusals)) {
        const response = await post(list, kind)
        assert.strictEqual(response.status, 502, `${kind} ${i}`)
        assert.deepStrictEqual(await response.json(), {
          error: "bad_gateway",
          error_description: description,
        })
      }
      // Every answer is checked under list filtering: the full path's `fetch` decodes `gzip, gzip`
      // and filters the plain text; the fast path decodes nothing and refuses it (the gateway asks
      // the server for `identity`; only a server ignoring that meets this).
      const ping = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), "gzip, gzip")
      if (i === 0) assert.deepInclude(await ping.json(), { id: 1 }, `gzip, gzip ${i}`)
      else assert.strictEqual(ping.status, 502, `gzip, gzip ${i}`)
      const empty = await post(list, "204")
      assert.strictEqual(empty.status, 204)
      assert.isNull(empty.headers.get("content-length"), `204 ${i}`)
    }
  })

  it('list answers - an answer whose id the MCP SDK client takes for the request\'s (9 as "9") is filtered on both paths', async () => {
    const tools = ["read_a", "admin_x"].map((name) => ({ name, inputSchema: {} }))
    const target = await fakeTarget((req, res, body) => {
      // The SDK client looks answers up by `Number(id)`: `"9"` answers request 9 for it.
      const answer = JSON.stringify({
        jsonrpc: "2.0",
        id: String((JSON.parse(body) as { id: number }).id),
        result: { tools },
      })
      if (req.headers["x-kind"] === "sse") {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.end(`event: message\ndata: ${answer}\n\n`)
      } else {
        res.writeHead(200, { "content-type": "application/json" })
        res.end(answer)
      }
    })
    closers.push(target.close)
    const { post, fresh } = await setup({ OIDC_PROXY_TARGET: `${target.url}/mcp` })
    const list = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" })
    for (const kind of ["json", "sse"]) {
      const token = await fresh()
      // The first call takes the full path, the others the fast path.
      for (let i = 0; i < 3; i++) {
        const response = await post(list, { authorization: `Bearer ${token}`, "x-kind": kind })
        assert.strictEqual(response.status, 200)
        const text = await response.text()
        assert.include(text, "read_a", `${kind} ${i}`)
        assert.notInclude(text, "admin_x", `${kind} ${i}`)
      }
    }
  })

  it("list answers - a Content-Type sent twice reaches the caller as one field on both paths, never as a JSON type over an unfiltered list", async () => {
    const tools = ["read_a", "admin_x"].map((name) => ({ name, inputSchema: {} }))
    const target = await fakeTarget((_req, res, body) => {
      res.setHeader("content-type", ["text/plain", "application/json"])
      res.writeHead(200)
      res.end(
        JSON.stringify({ jsonrpc: "2.0", id: (JSON.parse(body) as { id: number }).id, result: { tools } }),
      )
    })
    closers.push(target.close)
    const { gateway, token } = await setup({ OIDC_PROXY_TARGET: `${target.url}/mcp` })
    const list = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" })
    // The first call takes the full path, the others the fast path.
    for (let i = 0; i < 3; i++) {
      const answer = await sendRaw(
        gateway.url,
        `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${list.length}\r\nConnection: close\r\n\r\n${list}`,
      )
      assert.strictEqual(answer.status, 200)
      // `sendRaw` keeps the last of repeated fields: a second line would show here.
      assert.strictEqual(answer.headers["content-type"], "text/plain, application/json", `call ${i}`)
    }
    assert.include(gateway.metrics.render(), 'oidc_proxy_resource_path_total{path="fast"} 2')
  })

  it("list answers - one nested too deep to write back is a JSON-RPC error on both paths, never a 5xx, a cut stream or the unfiltered list", async () => {
    // `JSON.parse` reads arrays nested 200,000 deep (400 kB, under the bound); `JSON.stringify`
    // overflows its stack on them.
    const deep = `${"[".repeat(200_000)}${"]".repeat(200_000)}`
    const target = await fakeTarget((req, res, body) => {
      const id = (JSON.parse(body) as { id: number }).id
      const answer = `{"jsonrpc":"2.0","id":${id},"result":{"tools":[{"name":"read_a"},{"name":"admin_x"}],"x":${deep}}}`
      const sse = req.headers["x-kind"] === "sse"
      res.writeHead(200, { "content-type": sse ? "text/event-stream" : "application/json" })
      res.end(sse ? `event: message\ndata: ${answer}\n\n` : answer)
    })
    closers.push(target.close)
    const { post, fresh } = await setup({ OIDC_PROXY_TARGET: `${target.url}/mcp` })
    const list = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" })
    const error = {
      jsonrpc: "2.0",
      id: 9,
      error: { code: -32603, message: "The gateway cannot filter this list answer: it is nested too deep" },
    }
    for (const kind of ["json", "sse"]) {
      const token = await fresh()
      // The first call takes the full path, the others the fast path.
      for (let i = 0; i < 3; i++) {
        const response = await post(list, { authorization: `Bearer ${token}`, "x-kind": kind })
        assert.strictEqual(response.status, 200, `${kind} ${i}`)
        const text = await response.text()
        assert.deepStrictEqual(JSON.parse(text.replace(/^event: message\ndata: /, "")), error, `${kind} ${i}`)
      }
    }
  })

  it("fast path - a body between the list filter's bound and the policy's gets the full path's answer on every call", async () => {
    // OIDC_PROXY_POLICY_MAX_BODY above the list filter's default (1 MiB): the full path read such a
    // body up to the list filter's bound and refused it, the fast path forwarded it.
    const large = await setup({ OIDC_PROXY_POLICY_MAX_BODY: String(2 * 1024 * 1024) })
    const ping = (pad: number) =>
      JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "a".repeat(pad) } })
    for (let i = 0; i < 3; i++) {
      const response = await large.post(ping(1536 * 1024))
      assert.strictEqual(response.status, 200, `call ${i}`)
      await response.text()
    }
    assert.strictEqual(large.target.seen.length, 3)
    // An embedder's smaller list bound: 413 on every call, none forwarded.
    const small = await setup({}, policyYaml, { listFilterLimits: { maxRequestBytes: 1024 } })
    for (let i = 0; i < 3; i++) {
      const response = await small.post(ping(1500))
      assert.strictEqual(response.status, 413, `call ${i}`)
      assert.deepStrictEqual(await response.json(), {
        jsonrpc: "2.0",
        id: null,
        error: { code: -32600, message: "The request body exceeds 1024 bytes" },
      })
    }
    assert.strictEqual(small.target.seen.length, 0)
    assert.include(small.gateway.metrics.render(), 'oidc_proxy_resource_path_total{path="full"} 3')
  })

  it("traces - the forward span carries the call's subject, client, method, target, decision and rule, never a token", async () => {
    const posts: Array<string> = []
    const collector = await fakeTarget((req, res, body) => {
      posts.push(`${req.url} ${body}`)
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{}")
    })
    closers.push(collector.close)
    const { gateway, post, token } = await setup({ OIDC_PROXY_OTLP_ENDPOINT: collector.url })
    await (await post(call("admin_x"))).text()
    await gateway.shutdown()
    const traces = posts.filter((p) => p.startsWith("/v1/traces ")).join("\n")
    for (const attribute of [
      "enduser.id",
      "oauth.client_id",
      "mcp.method.name",
      "mcp.target",
      "mcp.decision",
      "mcp.rule",
    ])
      assert.include(traces, `"${attribute}"`)
    assert.include(traces, "admin_x")
    assert.include(traces, "no-admin")
    assert.notInclude(posts.join("\n"), token)
    assert.notInclude(posts.join("\n"), "s3")
  })
})

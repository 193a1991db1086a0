/**
 * MCP list filtering through the real gateway (`Gateway.start` with its `listFilter` option, HTTP on
 * 127.0.0.1) in front of the testbed's MCP server (the official SDK's Streamable HTTP transport),
 * listed by the real SDK client: the answer shows only the tools the caller may call, whether the
 * server answers with one JSON body or with an event stream (`enableJsonResponse` off). A request
 * body the gateway cannot read (or could read otherwise than the server) is refused rather than
 * forwarded unfiltered.
 */
import type { Gateway } from "@oidc-proxy/node"
import { McpClient, McpServer } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { gatewayEnv, signIn, startGateway } from "./flows.ts"
import { freePort } from "./processes.ts"

let idp: FakeIdp
const servers: Array<McpServer.RunningMcpServer> = []
const gateways: Array<Gateway.Gateway> = []

/** Only `admin` is refused, and only for subjects other than `root`. */
const listFilter: Gateway.Options["listFilter"] = (token) => (kind, name) =>
  !(kind === "tool" && name === "admin") || token.subject === "root"

const gatewayBefore = async (jsonResponse: boolean, options: Gateway.Options) => {
  const mcp = await McpServer.startMcpServer({ tools: ["read", "admin", "write"], jsonResponse })
  servers.push(mcp)
  const port = await freePort()
  const gateway = await startGateway(
    gatewayEnv(`http://127.0.0.1:${port}`, mcp.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
    }),
    options,
  )
  gateways.push(gateway)
  return gateway
}

beforeAll(async () => {
  idp = await startFakeIdp()
})

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.shutdown()))
  await Promise.all(servers.map((s) => s.close()))
  await idp?.close()
})

const toolNames = async (gateway: Gateway.Gateway, subject: string) => {
  idp.subject = subject
  const tokens = await signIn(gateway.url, idp)
  const client = await McpClient.connectWithBearer(`${gateway.url}/mcp`, tokens.access_token)
  try {
    // Twice: the second request comes with a bearer the gateway remembers (its fast path).
    const first = (await client.listTools()).tools.map((t) => t.name)
    const second = (await client.listTools()).tools.map((t) => t.name)
    return { first, second, token: tokens.access_token }
  } finally {
    await client.close()
  }
}

describe("tools/list through the gateway with a list filter", () => {
  for (const jsonResponse of [true, false]) {
    const mode = jsonResponse ? "JSON answers" : "event-stream answers"
    it(`${mode}: the SDK client sees only the tools the caller may call`, async () => {
      const gateway = await gatewayBefore(jsonResponse, { listFilter })
      const ada = await toolNames(gateway, "ada")
      expect(ada.first).toEqual(["whoami", "read", "write"])
      expect(ada.second).toEqual(["whoami", "read", "write"])
      expect((await toolNames(gateway, "root")).first).toEqual(["whoami", "read", "admin", "write"])
      // The answer's form passes through: one JSON body, or an event stream without the refused tool.
      const raw = await fetch(`${gateway.url}/mcp`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${ada.token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }),
      })
      expect(raw.headers.get("content-type")).toContain(
        jsonResponse ? "application/json" : "text/event-stream",
      )
      const text = await raw.text()
      expect(text).toContain('"write"')
      expect(text).not.toContain('"admin"')
    })
  }

  it("without a list filter every tool is listed (the server lists admin)", async () => {
    const gateway = await gatewayBefore(false, {})
    expect((await toolNames(gateway, "ada")).first).toEqual(["whoami", "read", "admin", "write"])
  })

  it("a batch answered in JSON is filtered per element; unreadable bodies are refused", async () => {
    const gateway = await gatewayBefore(true, { listFilter, listFilterLimits: { maxRequestBytes: 4096 } })
    idp.subject = "ada"
    const { access_token } = await signIn(gateway.url, idp)
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${gateway.url}/mcp`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${access_token}`,
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...headers,
        },
        body,
      })
    const list = { jsonrpc: "2.0", id: "a", method: "tools/list" }
    const batch = await post(JSON.stringify([list, { ...list, id: 2 }]))
    expect(batch.status).toBe(200)
    const answers = (await batch.json()) as Array<{ result: { tools: Array<{ name: string }> } }>
    expect(answers.map((a) => a.result.tools.map((t) => t.name))).toEqual([
      ["whoami", "read", "write"],
      ["whoami", "read", "write"],
    ])
    // Padding a tools/list past the bound does not get it through unfiltered.
    const padded = await post(`${" ".repeat(5000)}${JSON.stringify(list)}`)
    expect(padded.status).toBe(413)
    expect(await padded.json()).toMatchObject({ error: { code: -32600 } })
    // A byte order mark is refused (RFC 8259 §8.1: never sent; servers skip it or fail), as the
    // policy gate refuses it: what is forwarded never depends on the server's choice.
    const marked = await post(`\uFEFF${JSON.stringify(list)}`)
    expect(marked.status).toBe(400)
    expect(await marked.json()).toMatchObject({ error: { code: -32700 } })
    // A body in another charset is refused: the server could decode other text from its bytes.
    for (const type of ["application/json; charset=iso-8859-1", 'application/json;charset="utf-16"']) {
      const refused = await post(JSON.stringify(list), { "content-type": type })
      expect(refused.status).toBe(415)
      expect(await refused.json()).toMatchObject({
        error: { code: -32600, message: expect.stringContaining("charset") },
      })
    }
    // UTF-8 named in any letter case, quoted or not, is read and filtered.
    for (const type of ["application/json; charset=UTF-8", 'application/json; Charset="utf-8"']) {
      const named = await post(JSON.stringify(list), { "content-type": type })
      const tools = ((await named.json()) as { result: { tools: Array<{ name: string }> } }).result.tools
      expect(tools.map((t) => t.name)).toEqual(["whoami", "read", "write"])
    }
    const garbled = await post(JSON.stringify(list).slice(0, -1))
    expect(garbled.status).toBe(400)
    expect(await garbled.json()).toEqual({
      jsonrpc: "2.0",
      id: null,
      error: { code: -32700, message: "Parse error" },
    })
    const encoded = await post(JSON.stringify(list), { "content-encoding": "gzip" })
    expect(encoded.status).toBe(415)
  })
})

/** A gate the server's `hold` awaits: `reached(n)` once it was called `n` times, `open` lets all through. */
const makeHold = () => {
  let calls = 0
  const waiting: Array<{ readonly n: number; readonly resolve: () => void }> = []
  let open!: () => void
  let gate = new Promise<void>((resolve) => {
    open = resolve
  })
  return {
    hold: () => {
      calls++
      for (const w of waiting.filter((w) => w.n <= calls)) w.resolve()
      return gate
    },
    reached: (n: number) =>
      new Promise<void>((resolve) => (calls >= n ? resolve() : waiting.push({ n, resolve }))),
    open: () => {
      open()
      gate = new Promise<void>((resolve) => {
        open = resolve
      })
    },
  }
}

const pathCount = (gateway: Gateway.Gateway, path: "fast" | "full") =>
  Number(
    new RegExp(`oidc_proxy_resource_path_total\\{path="${path}"\\} (\\d+)`).exec(
      gateway.metrics.render(),
    )?.[1] ?? 0,
  )

describe("two requests of one session sharing an id (the SDK routes an answer by id alone)", () => {
  // The SDK's Streamable HTTP transport maps a request id to the stream of the last POST that
  // carried it: a tools/list held by the server, then a tools/call with the same id on another
  // POST, and the list answer goes out on the call's stream — a POST with no list request.
  for (const jsonResponse of [true, false]) {
    const mode = jsonResponse ? "JSON answers" : "event-stream answers"
    it(`${mode}: the list answer on the other request's stream is filtered, on the full and the fast path`, async () => {
      const gate = makeHold()
      const mcp = await McpServer.startMcpServer({
        tools: ["read", "admin"],
        jsonResponse,
        stateful: true,
        hold: gate.hold,
      })
      servers.push(mcp)
      const port = await freePort()
      const gateway = await startGateway(
        gatewayEnv(`http://127.0.0.1:${port}`, mcp.url, idp, "memory", {
          OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
        }),
        { listFilter },
      )
      gateways.push(gateway)
      idp.subject = "ada"
      const first = (await signIn(gateway.url, idp)).access_token
      let session = ""
      const post = (token: string, message: object, signal?: AbortSignal) =>
        fetch(`${gateway.url}/mcp`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-protocol-version": "2025-06-18",
            ...(session === "" ? {} : { "mcp-session-id": session }),
          },
          body: JSON.stringify({ jsonrpc: "2.0", ...message }),
          ...(signal === undefined ? {} : { signal }),
        })
      const init = await post(first, {
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
      })
      session = init.headers.get("mcp-session-id") ?? ""
      expect(session).not.toBe("")
      await init.text()
      expect((await post(first, { method: "notifications/initialized" })).status).toBe(202)
      // Round 1: the tools/call is the first request of a new bearer (full path); round 2: fast path.
      const second = (await signIn(gateway.url, idp)).access_token
      for (const [round, token, path] of [
        [1, second, "full"],
        [2, first, "fast"],
      ] as const) {
        const before = pathCount(gateway, path)
        const abort = new AbortController()
        const listing = post(first, { id: 7 + round, method: "tools/list" }, abort.signal).catch(
          () => undefined,
        )
        await gate.reached(2 * round - 1)
        const calling = post(token, { id: 7 + round, method: "tools/call", params: { name: "hold" } })
        await gate.reached(2 * round)
        gate.open()
        const answer = await (await calling).text()
        expect(answer, `round ${round}`).toContain('"read"')
        expect(answer, `round ${round}`).not.toContain('"admin"')
        expect(pathCount(gateway, path) - before, path).toBeGreaterThanOrEqual(1)
        abort.abort()
        await listing
      }
    })
  }
})

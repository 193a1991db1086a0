/**
 * Properties of the MCP list filter and its event-stream form: nothing refused gets through,
 * allowed items keep their order, everything allowed is the identity (byte for byte), and an
 * event stream cut anywhere filters as the whole stream does.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as McpEventStreamFilter from "../src/McpEventStreamFilter.ts"
import * as McpListFilter from "../src/McpListFilter.ts"

const names = fc.constantFrom("read", "write", "admin", "ünïcødé-✓", "🔧tool", "a b")
const item = (key: string) =>
  fc.record({ [key]: names, description: fc.string({ maxLength: 8 }) }) as fc.Arbitrary<
    Record<string, string>
  >
const tools = fc.array(item("name"), { maxLength: 6 })
const allowedSet = fc.subarray(["read", "write", "admin", "ünïcødé-✓", "🔧tool", "a b"])
const permission =
  (allowed: ReadonlyArray<string>): McpListFilter.Permission =>
  (_kind, name) =>
    allowed.includes(name)
const allowAll: McpListFilter.Permission = () => true

const pendingOf = (id: number | string, method: McpListFilter.ListMethod) =>
  McpListFilter.listRequests({ jsonrpc: "2.0", id, method })

const response = (id: number | string, list: ReadonlyArray<unknown>) => ({
  jsonrpc: "2.0",
  id,
  result: { tools: list, nextCursor: "c1" },
})

describe("McpListFilter", () => {
  it("filterMessage - never lets a refused tool through and keeps the allowed ones in order", () => {
    fc.assert(
      fc.property(tools, allowedSet, (list, allowed) => {
        const out = McpListFilter.filterMessage(
          response(7, list),
          pendingOf(7, "tools/list"),
          permission(allowed),
        ) as ReturnType<typeof response>
        assert.deepStrictEqual(
          out.result.tools,
          list.filter((t) => allowed.includes(t["name"]!)),
        )
        assert.strictEqual(out.result.nextCursor, "c1")
      }),
    )
  })

  it("filterText - the identity, byte for byte, when everything is allowed", () => {
    fc.assert(
      fc.property(tools, fc.constantFrom("", " ", "\n  "), (list, space) => {
        const text = JSON.stringify(response(1, list), null, space)
        assert.strictEqual(McpListFilter.filterText(text, pendingOf(1, "tools/list"), allowAll), text)
      }),
    )
  })

  it("filterMessage - resources by uri, templates by uriTemplate, prompts by name", () => {
    const allow: McpListFilter.Permission = (kind, name) => kind !== "tool" && name.startsWith("ok")
    const batch = [
      {
        jsonrpc: "2.0",
        id: 1,
        result: { resources: [{ uri: "ok://a" }, { uri: "no://b" }, { name: "ok" }] },
      },
      {
        jsonrpc: "2.0",
        id: "1",
        result: { resourceTemplates: [{ uriTemplate: "ok://{x}" }, { uriTemplate: "x" }] },
      },
      { jsonrpc: "2.0", id: 3, result: { prompts: [{ name: "ok-p" }, { name: "p" }] } },
      { jsonrpc: "2.0", id: 4, result: { tools: [{ name: "ok" }] } },
    ]
    const pending = McpListFilter.listRequests([
      { jsonrpc: "2.0", id: 1, method: "resources/list" },
      { jsonrpc: "2.0", id: "1", method: "resources/templates/list" },
      { jsonrpc: "2.0", id: 3, method: "prompts/list" },
      { jsonrpc: "2.0", method: "tools/list" },
    ])
    assert.deepStrictEqual(McpListFilter.filterMessage(batch, pending, allow), [
      { jsonrpc: "2.0", id: 1, result: { resources: [{ uri: "ok://a" }] } },
      { jsonrpc: "2.0", id: "1", result: { resourceTemplates: [{ uriTemplate: "ok://{x}" }] } },
      { jsonrpc: "2.0", id: 3, result: { prompts: [{ name: "ok-p" }] } },
      // Not a pending list request (the request was a notification): filtered by its shape.
      { jsonrpc: "2.0", id: 4, result: { tools: [] } },
    ])
  })

  it('repeatsId - two requests of a batch sharing a typed id; 1 and "1", replies and notifications do not', () => {
    const r = (id: unknown, method = "tools/list") => ({ jsonrpc: "2.0", id, method })
    assert.isTrue(McpListFilter.repeatsId([r(1), r(1, "resources/list")]))
    assert.isTrue(McpListFilter.repeatsId([r("a", "ping"), r("a")]))
    assert.isFalse(McpListFilter.repeatsId([r(1), r("1")]))
    assert.isFalse(McpListFilter.repeatsId([r(1), { jsonrpc: "2.0", id: 1, result: {} }]))
    assert.isFalse(
      McpListFilter.repeatsId([
        { jsonrpc: "2.0", method: "x" },
        { jsonrpc: "2.0", method: "x" },
      ]),
    )
    assert.isFalse(McpListFilter.repeatsId(r(1)))
  })

  it("filterMessage - a list answer to another request id is filtered by its shape; other results are untouched", () => {
    // The MCP SDK sends an answer on the stream of the last request that carried its id: a
    // tools/list answer can arrive on the stream of a tools/call the gateway let pass unfiltered.
    assert.deepStrictEqual(
      McpListFilter.filterMessage(response(2, [{ name: "admin" }]), pendingOf(1, "tools/list"), () => false),
      response(2, []),
    )
    const call = { jsonrpc: "2.0", id: 2, result: { content: [{ type: "text", text: "tools" }] } }
    assert.strictEqual(
      McpListFilter.filterMessage(call, pendingOf(1, "tools/list"), () => false),
      call,
    )
    assert.strictEqual(
      McpListFilter.filterMessage(call, new Map(), () => false),
      call,
    )
  })

  it('filterMessage - an answer whose id a client takes for the request\'s (9 answered as "9", "0x9", 9 as "9") is filtered', () => {
    const hidden = (out: unknown) => JSON.stringify(out).includes("admin")
    for (const [requested, answered] of [
      [9, "9"],
      [9, "0x9"],
      [9, " 9 "],
      ["9", 9],
      [9, 9],
    ] as const) {
      const out = McpListFilter.filterMessage(
        response(answered, [{ name: "admin" }, { name: "read" }]),
        pendingOf(requested, "tools/list"),
        permission(["read"]),
      )
      assert.isFalse(hidden(out), `${JSON.stringify(requested)} answered as ${JSON.stringify(answered)}`)
    }
  })
})

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const run = (filter: McpEventStreamFilter.EventStreamFilter, chunks: ReadonlyArray<Uint8Array>): string => {
  const out: Array<Uint8Array> = []
  for (const chunk of chunks) out.push(...filter.push(chunk))
  out.push(...filter.end())
  return decoder.decode(Buffer.concat(out))
}

const cut = (bytes: Uint8Array, at: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(at.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const p of points) {
    chunks.push(bytes.subarray(start, p))
    start = p
  }
  chunks.push(bytes.subarray(start))
  return chunks
}

const eol = fc.constantFrom("\n", "\r\n", "\r")
/** An event stream: a notification, the list response (data split over lines or not), a comment. */
const stream = fc
  .record({ list: tools, eol, split: fc.boolean(), id: fc.constantFrom(1, "x") })
  .map(({ list, eol, split, id }) => {
    const json = JSON.stringify(response(id, list), null, split ? " " : undefined)
    const data = json
      .split("\n")
      .map((l) => `data: ${l}`)
      .join(eol)
    return {
      id,
      list,
      text: `: hi${eol}event: message${eol}data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"tools":[]}}${eol}${eol}event: message${eol}id: e1${eol}${data}${eol}${eol}data: tail ü${eol}${eol}`,
    }
  })

describe("McpEventStreamFilter", () => {
  it("push - cut at any byte gives what the whole stream gives, and only allowed tools are sent", () => {
    fc.assert(
      fc.property(stream, allowedSet, fc.array(fc.nat(), { maxLength: 12 }), (s, allowed, at) => {
        const bytes = encoder.encode(s.text)
        const pending = pendingOf(s.id, "tools/list")
        const whole = run(McpEventStreamFilter.make(pending, permission(allowed), 1 << 20), [bytes])
        const chunked = run(McpEventStreamFilter.make(pending, permission(allowed), 1 << 20), cut(bytes, at))
        assert.strictEqual(chunked, whole)
        const event = whole.split(/\r\n\r\n|\n\n|\r\r/).find((e) => e.includes("result"))!
        const json = event
          .split(/\r\n|\r|\n/)
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(6))
          .join("\n")
        const sent = (JSON.parse(json) as ReturnType<typeof response>).result.tools
        assert.deepStrictEqual(
          sent,
          s.list.filter((t) => allowed.includes(t["name"]!)),
        )
        assert.ok(whole.includes("id: e1"))
        assert.ok(whole.endsWith(`data: tail ü${s.text.endsWith("\r\n") ? "\r\n\r\n" : s.text.slice(-2)}`))
      }),
    )
  })

  it("push - the identity, byte for byte, when everything is allowed, however cut", () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (s, at) => {
        const bytes = encoder.encode(s.text)
        const filter = McpEventStreamFilter.make(pendingOf(s.id, "tools/list"), allowAll, 1 << 20)
        assert.strictEqual(run(filter, cut(bytes, at)), s.text)
      }),
    )
  })

  it("push - after the pending answer, a later list answer to another id is still filtered, however cut", () => {
    // The MCP SDK may send another request's tools/list answer on this stream once its own is sent.
    const text = `data: ${JSON.stringify(response(1, [{ name: "a" }]))}\n\ndata: ${JSON.stringify(response(9, [{ name: "admin" }, { name: "a" }]))}\n\n`
    const bytes = encoder.encode(text)
    for (const at of [[], [text.indexOf("\n\n") + 2], [3, text.length - 40]]) {
      const filter = McpEventStreamFilter.make(
        pendingOf(1, "tools/list"),
        (_, name) => name !== "admin",
        1 << 20,
      )
      const out = run(filter, cut(bytes, at))
      assert.notInclude(out, "admin", `cut at ${at}`)
      assert.include(out, `data: ${JSON.stringify(response(9, [{ name: "a" }]))}\n\n`)
    }
  })

  it("push - an event past the bound ends the stream with a JSON-RPC error for the request", () => {
    const filter = McpEventStreamFilter.make(pendingOf(5, "tools/list"), () => false, 64)
    const text = `data: ${JSON.stringify(response(5, [{ name: "x".repeat(100) }]))}\n\n`
    const out = run(filter, [encoder.encode(text)])
    assert.ok(filter.overflowed())
    assert.strictEqual(
      out,
      'event: message\ndata: {"jsonrpc":"2.0","id":5,"error":{"code":-32603,"message":"The gateway cannot filter an event longer than 64 bytes"}}\n\n',
    )
  })
})

/** What a GET stream may carry: replayed list answers of every kind (any id, alone or batched). */
const replayed = fc.oneof(
  fc.record({
    jsonrpc: fc.constant("2.0"),
    id: fc.oneof(fc.nat(), fc.string({ maxLength: 3 })),
    result: fc.record({ tools }),
  }),
  fc.record({
    jsonrpc: fc.constant("2.0"),
    id: fc.nat(),
    result: fc.record({ prompts: fc.array(item("name"), { maxLength: 4 }) }),
  }),
  fc.record({
    jsonrpc: fc.constant("2.0"),
    id: fc.nat(),
    result: fc.record({ resources: fc.array(item("uri"), { maxLength: 4 }) }),
  }),
  fc.record({
    jsonrpc: fc.constant("2.0"),
    id: fc.nat(),
    result: fc.record({ resourceTemplates: fc.array(item("uriTemplate"), { maxLength: 4 }), tools }),
  }),
  fc.constant({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: "ü" } }),
)
const getStream = fc
  .record({
    messages: fc.array(fc.oneof(replayed, fc.array(replayed, { minLength: 1, maxLength: 3 })), {
      minLength: 1,
      maxLength: 5,
    }),
    eol,
  })
  .map(({ messages, eol }) =>
    messages
      .map((m, i) => `id: ${i}${eol}event: message${eol}data: ${JSON.stringify(m)}${eol}${eol}`)
      .join(""),
  )

/** Every list item in the messages of an event stream's output. */
const listedItems = (text: string): Array<string> =>
  text
    .split(/\r\n\r\n|\n\n|\r\r/)
    .flatMap((event) => event.split(/\r\n|\r|\n/).filter((l) => l.startsWith("data: ")))
    .flatMap((line) => {
      const message = JSON.parse(line.slice(6)) as unknown
      return (Array.isArray(message) ? message : [message]) as Array<{ result?: Record<string, unknown> }>
    })
    .flatMap((m) =>
      (["tools", "prompts", "resources", "resourceTemplates"] as const).flatMap((member) =>
        ((m.result?.[member] ?? []) as Array<Record<string, string>>).map(
          (i) => i["name"] ?? i["uri"] ?? i["uriTemplate"]!,
        ),
      ),
    )

describe('McpEventStreamFilter on a GET stream ("any")', () => {
  it("push - however cut, no refused item of any list result passes, replayed under any id", () => {
    fc.assert(
      fc.property(getStream, allowedSet, fc.array(fc.nat(), { maxLength: 12 }), (text, allowed, at) => {
        const bytes = encoder.encode(text)
        const whole = run(McpEventStreamFilter.make("any", permission(allowed), 1 << 20), [bytes])
        const chunked = run(McpEventStreamFilter.make("any", permission(allowed), 1 << 20), cut(bytes, at))
        assert.strictEqual(chunked, whole)
        for (const name of listedItems(chunked)) assert.include(allowed, name)
        // Allowed items are all kept: only refused ones are removed.
        assert.deepStrictEqual(
          listedItems(chunked),
          listedItems(text).filter((n) => allowed.includes(n)),
        )
      }),
    )
  })

  it("push - the identity when everything is allowed; an over-long event ends the stream", () => {
    fc.assert(
      fc.property(getStream, fc.array(fc.nat(), { maxLength: 12 }), (text, at) => {
        assert.strictEqual(
          run(McpEventStreamFilter.make("any", allowAll, 1 << 20), cut(encoder.encode(text), at)),
          text,
        )
      }),
    )
    const filter = McpEventStreamFilter.make("any", () => false, 64)
    const text = `data: ${JSON.stringify(response(5, [{ name: "x".repeat(100) }]))}\n\n`
    assert.strictEqual(run(filter, [encoder.encode(text)]), "")
    assert.ok(filter.overflowed())
  })
})

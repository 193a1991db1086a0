import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import type { AccessToken } from "../src/AccessToken.ts"
import * as JsonRpc from "../src/JsonRpc.ts"
import * as McpPolicy from "../src/McpPolicy.ts"

const token = (overrides: Partial<AccessToken> = {}): AccessToken => ({
  token: "t",
  client_id: "client-1",
  subject: "alice",
  scopes: ["openid", "mcp:read"],
  expires_at: 100,
  claims: { iss: "https://idp.test", email: "Alice@Example.com", email_verified: true, groups: ["staff"] },
  ...overrides,
})

const policyOf = (input: unknown): McpPolicy.Policy => {
  const decoded = McpPolicy.decode(input)
  if (Result.isFailure(decoded)) throw new Error(JSON.stringify(decoded.failure))
  return decoded.success
}

const alice = McpPolicy.callerOf(token())

// Small alphabets, so generated rules and calls meet often.
const names = fc.constantFrom("a", "b", "admin_x", "admin_y", "file:///p/1", "")
const methods = fc.constantFrom(
  "tools/call",
  "resources/read",
  "prompts/get",
  "tools/list",
  "initialize",
  "ping",
)
const call = fc.record({ method: methods, target: names }) as fc.Arbitrary<JsonRpc.Call>
const patterns = fc.array(fc.constantFrom("a", "admin_*", "*", "file:///*", "b", "tools/*", "ping"), {
  minLength: 1,
  maxLength: 3,
})
const rule = fc.record(
  {
    effect: fc.constantFrom("allow" as const, "deny" as const),
    methods: patterns,
    tools: patterns,
    resources: patterns,
    prompts: patterns,
    when: fc.record(
      {
        subjects: fc.array(fc.constantFrom("alice", "bob"), { maxLength: 2 }),
        groups: fc.array(fc.constantFrom("staff", "admins"), { maxLength: 2 }),
        scopes: fc.array(fc.constantFrom("mcp:read", "mcp:write"), { maxLength: 2 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ["effect"] },
)
const file = fc.record({
  default: fc.constantFrom("allow" as const, "deny" as const),
  rules: fc.array(rule, { maxLength: 5 }),
})

describe("McpPolicy", () => {
  it("decide - the first matching rule decides: rules after it never change the decision", () => {
    fc.assert(
      fc.property(file, fc.array(rule, { maxLength: 3 }), call, (f, more, c) => {
        const before = McpPolicy.decide(policyOf(f), alice, c)
        const after = McpPolicy.decide(policyOf({ ...f, rules: [...f.rules, ...more] }), alice, c)
        if (before.rule !== "default") assert.deepStrictEqual(after, before)
      }),
    )
  })

  it("decide - a rule matching every call placed first decides every call", () => {
    fc.assert(
      fc.property(file, fc.constantFrom("allow" as const, "deny" as const), call, (f, effect, c) => {
        const p = policyOf({ ...f, rules: [{ id: "first", effect }, ...f.rules] })
        assert.deepStrictEqual(McpPolicy.decide(p, alice, c), { effect, rule: "first" })
      }),
    )
  })

  it("decide - the default applies exactly when no rule matches", () => {
    fc.assert(
      fc.property(file, call, (f, c) => {
        const decision = McpPolicy.decide(policyOf(f), alice, c)
        const anyMatches = f.rules.some(
          (r) =>
            McpPolicy.decide(policyOf({ default: "deny", rules: [{ ...r, id: "r" }] }), alice, c).rule ===
            "r",
        )
        assert.strictEqual(decision.rule === "default", !anyMatches)
        if (!anyMatches) assert.strictEqual(decision.effect, f.default)
      }),
    )
  })

  it("decideBody - under default deny with no rule allowing, no body passes but responses", () => {
    const p = policyOf({ default: "deny", rules: [{ effect: "deny", tools: ["*"] }] })
    const bodies = fc.oneof(
      fc.string(),
      fc.json(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc
        .array(
          fc.record(
            {
              jsonrpc: fc.constantFrom("2.0", "1.0"),
              id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
              method: fc.oneof(methods, fc.integer()),
              params: fc.object(),
            },
            { requiredKeys: [] },
          ),
        )
        .map((v) => JSON.stringify(v)),
    )
    fc.assert(
      fc.property(bodies, (text) => {
        const result = McpPolicy.decideBody(p, alice, JsonRpc.parse(text))
        if (result._tag === "Invalid") return
        for (const { message, decision } of result.entries)
          assert.strictEqual(decision.effect === "allow", message._tag === "Response")
      }),
    )
  })

  it("decide - a tool glob denies exactly the tools it names, only on tools/call", () => {
    const p = policyOf({ default: "allow", rules: [{ id: "no-admin", effect: "deny", tools: ["admin_*"] }] })
    fc.assert(
      fc.property(methods, fc.string(), (method, target) => {
        const d = McpPolicy.decide(p, alice, { method, target })
        assert.strictEqual(d.effect === "deny", method === "tools/call" && target.startsWith("admin_"))
      }),
    )
  })

  it("decide - an allow rule with scopes the caller lacks denies with exactly the missing scopes", () => {
    const p = policyOf({
      default: "deny",
      rules: [{ id: "writer", effect: "allow", tools: ["write_*"], scopes: ["mcp:read", "mcp:write"] }],
    })
    assert.deepStrictEqual(McpPolicy.decide(p, alice, { method: "tools/call", target: "write_file" }), {
      effect: "deny",
      rule: "writer",
      missingScopes: ["mcp:write"],
    })
    const writer = McpPolicy.callerOf(token({ scopes: ["mcp:read", "mcp:write"] }))
    assert.deepStrictEqual(McpPolicy.decide(p, writer, { method: "tools/call", target: "write_file" }), {
      effect: "allow",
      rule: "writer",
    })
  })

  it("conditions - email, domain, groups, claims and client ids from the verified claims", () => {
    const p = policyOf({
      default: "deny",
      rules: [
        { id: "mail", effect: "allow", tools: ["m"], when: { emails: ["alice@example.COM"] } },
        { id: "domain", effect: "allow", tools: ["d"], when: { email_domains: ["example.com"] } },
        { id: "group", effect: "allow", tools: ["g"], when: { groups: ["staff"] } },
        { id: "tenant", effect: "allow", tools: ["t"], when: { claims: { tenant: ["acme"] } } },
        { id: "client", effect: "allow", tools: ["c"], when: { client_ids: ["client-1"] } },
      ],
    })
    for (const tool of ["m", "d", "g", "c"])
      assert.strictEqual(
        McpPolicy.decide(p, alice, { method: "tools/call", target: tool }).effect,
        "allow",
        tool,
      )
    assert.strictEqual(McpPolicy.decide(p, alice, { method: "tools/call", target: "t" }).effect, "deny")
    // An email the IdP does not call verified matches no email condition.
    const unverified = McpPolicy.callerOf(token({ claims: { iss: "x", email: "alice@example.com" } }))
    assert.strictEqual(McpPolicy.decide(p, unverified, { method: "tools/call", target: "d" }).effect, "deny")
    const trusted = McpPolicy.callerOf(token({ claims: { iss: "x", email: "alice@example.com" } }), {
      trustUnverifiedEmail: true,
    })
    assert.strictEqual(McpPolicy.decide(p, trusted, { method: "tools/call", target: "d" }).effect, "allow")
  })

  it("allowsItem - lists what a call allows or a step-up allows, hides what a call denies outright", () => {
    const p = policyOf({
      default: "allow",
      rules: [
        { effect: "deny", tools: ["secret"] },
        { effect: "allow", tools: ["write"], scopes: ["mcp:write"] },
        { effect: "deny", resources: ["file:///private/*"] },
      ],
    })
    const allows = McpPolicy.allowsItem(p, alice)
    assert.strictEqual(allows("tool", "secret"), false)
    assert.strictEqual(allows("tool", "write"), true)
    assert.strictEqual(allows("tool", "other"), true)
    assert.strictEqual(allows("resource", "file:///private/a"), false)
    assert.strictEqual(allows("prompt", "secret"), true)
  })

  it("decode - every bad field named by its path; unknown fields refused; deny rules take no scopes", () => {
    const decoded = McpPolicy.decode({
      rules: [{ effect: "maybe" }, { effect: "allow", tool: ["x"] }, { effect: "deny", scopes: ["a"] }],
    })
    assert.isTrue(Result.isFailure(decoded))
    if (Result.isSuccess(decoded)) return
    const paths = decoded.failure.map((i) => i.path.join("."))
    assert.include(paths, "default")
    assert.include(paths, "rules.0.effect")
    assert.include(paths, "rules.1.tool")
    assert.include(paths, "rules.2.scopes")
  })

  it("glob - agrees with the reference reading of * as any run of characters", () => {
    const chars = fc.constantFrom("a", "b", "*", ".", "/", "\n")
    fc.assert(
      fc.property(
        fc.string({ unit: chars, maxLength: 6 }),
        fc.string({ unit: chars, maxLength: 8 }),
        (p, v) => {
          const reference = new RegExp(
            `^${p
              .split("*")
              .map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
              .join("[\\s\\S]*")}$`,
          )
          assert.strictEqual(
            McpPolicy.glob(p)(v),
            reference.test(v),
            `${JSON.stringify(p)} ${JSON.stringify(v)}`,
          )
        },
      ),
    )
  })

  it("glob - * spans any run of characters, other characters are literal", () => {
    assert.isTrue(McpPolicy.glob("file:///a/*")("file:///a/b/c\nd"))
    assert.isFalse(McpPolicy.glob("a.b")("axb"))
    assert.isFalse(McpPolicy.glob("a*")("ba"))
    assert.isTrue(McpPolicy.glob("*")(""))
  })
})

/** The member names the classifier reads (extra members spelled like them in another case are refused). */
const envelope = new Set(["jsonrpc", "id", "method", "params", "name", "uri"])

/** Whether any object of `v` has two member names equal in another letter case. */
const foldCollides = (v: unknown): boolean => {
  if (Array.isArray(v)) return v.some(foldCollides)
  if (typeof v !== "object" || v === null) return false
  const keys = Object.keys(v)
  return (
    new Set(keys.map((k) => k.toUpperCase().toLowerCase())).size !== keys.length ||
    Object.values(v).some(foldCollides)
  )
}

describe("JsonRpc", () => {
  it("classify - reads method and target whatever else the message holds", () => {
    fc.assert(
      fc.property(
        methods,
        fc.string(),
        fc.oneof(fc.integer(), fc.string()),
        fc.dictionary(
          fc.string().filter((k) => !envelope.has(k.toUpperCase().toLowerCase())),
          fc.jsonValue(),
        ),
        (method, target, id, extra) => {
          const field = method === "resources/read" ? "uri" : "name"
          const body = { ...extra, jsonrpc: "2.0", id, method, params: { ...extra, [field]: target } }
          // Names equal in another letter case are refused (`hasDuplicateKeys`).
          fc.pre(!foldCollides(body))
          const c = JsonRpc.parse(JSON.stringify(body))
          assert.strictEqual(c._tag, "Single")
          if (c._tag !== "Single" || c.message._tag !== "Request") return assert.fail("a request")
          assert.strictEqual(c.message.call.method, method)
          const targeted = ["tools/call", "resources/read", "prompts/get"].includes(method)
          assert.strictEqual(c.message.call.target, targeted ? target : undefined)
        },
      ),
    )
  })

  it("classify - malformed bodies are Invalid with the JSON-RPC code", () => {
    assert.deepInclude(JsonRpc.parse("{"), { _tag: "Invalid", code: -32700 })
    assert.deepInclude(JsonRpc.parse("[]"), { _tag: "Invalid", code: -32600 })
    assert.deepInclude(JsonRpc.parse('{"jsonrpc":"2.0","id":1}'), { _tag: "Invalid", code: -32600 })
    assert.deepInclude(JsonRpc.parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}'), {
      _tag: "Invalid",
      code: -32602,
    })
    assert.deepInclude(JsonRpc.parse('[{"jsonrpc":"2.0","method":"ping","id":1},{"method":"x"}]'), {
      _tag: "Invalid",
      code: -32600,
    })
    assert.deepInclude(JsonRpc.parse('{"jsonrpc":"2.0","id":{},"method":"ping"}'), { _tag: "Invalid" })
  })

  it("hasDuplicateKeys - never for what JSON.stringify writes; always for a repeated member, however escaped", () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((v) => !foldCollides(v)),
        (v) => assert.isFalse(JsonRpc.hasDuplicateKeys(JSON.stringify(v))),
      ),
    )
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.string(), (v, a, b) => {
        const inner = JSON.stringify({ x: v }).slice(1, -1)
        const text = `[{${inner},"p":{"k":${JSON.stringify(a)},"k":${JSON.stringify(b)}}}]`
        assert.isTrue(JsonRpc.hasDuplicateKeys(text))
      }),
    )
    assert.deepInclude(
      JsonRpc.parse(
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin","n\\u0061me":"read"}}',
      ),
      { _tag: "Invalid", code: -32600 },
    )
    assert.deepInclude(JsonRpc.parse('{"method":"ping","jsonrpc":"2.0","id":1,"method":"tools/call"}'), {
      _tag: "Invalid",
      code: -32600,
    })
  })

  it("hasDuplicateKeys - a member named again in another letter case, as case-insensitive readers match it", () => {
    // Go's encoding/json binds each of these to the field `method` (or `params`, `name`): the last wins.
    for (const text of [
      '{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"admin"}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","NAME":"admin"}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read"},"param\u017f":{"name":"admin"}}',
      '[{"jsonrpc":"2.0","id":1,"method":"ping","m\u0045thod":"tools/call"}]',
    ])
      assert.deepInclude(JsonRpc.parse(text), { _tag: "Invalid", code: -32600 }, text)
    assert.strictEqual(
      JsonRpc.parse(
        '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{"Name":1}}}',
      )._tag,
      "Single",
    )
  })

  it("classify - a batch repeating a request id is Invalid (an answer is matched to its request by id)", () => {
    const request = (id: JsonRpc.Id, method: string) => ({ jsonrpc: "2.0", id, method })
    assert.deepInclude(JsonRpc.classify([request(1, "tools/list"), request(1, "resources/list")]), {
      _tag: "Invalid",
      code: -32600,
    })
    assert.deepInclude(JsonRpc.classify([request("a", "tools/list"), request("a", "ping")]), {
      _tag: "Invalid",
      code: -32600,
    })
    // 1 and "1" are different ids; a reply to the server may reuse a request's id.
    assert.strictEqual(
      JsonRpc.classify([request(1, "tools/list"), request("1", "prompts/list")])._tag,
      "Batch",
    )
    assert.strictEqual(
      JsonRpc.classify([request(1, "tools/list"), { jsonrpc: "2.0", id: 1, result: {} }])._tag,
      "Batch",
    )
  })
})

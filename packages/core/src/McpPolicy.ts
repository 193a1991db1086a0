/**
 * The gateway's MCP policy: which caller may send which JSON-RPC method, call which tool, read
 * which resource and get which prompt. An ordered rule list, the first matching rule decides, and
 * an explicit default when none matches; a rule may require scopes, which turns its denial into a
 * step-up challenge instead of a refusal.
 *
 * Pure core: `PolicyFile` is the Schema of the operator's file, `compile` turns it into matchers
 * once, `decide` and `allowsItem` are plain functions over the verified `AccessToken`. One rule set
 * decides calls, list filtering and the challenge (design §8).
 *
 * @see [MCP authorization: scope challenge handling](https://modelcontextprotocol.io/specification/draft/basic/authorization)
 * @since 0.1.0
 */
import { Result, Schema, SchemaIssue } from "effect"
import type { AccessToken } from "./AccessToken.ts"
import type * as JsonRpc from "./JsonRpc.ts"
import * as VerifiedEmail from "./VerifiedEmail.ts"

const Patterns = Schema.Array(Schema.String.check(Schema.isMinLength(1)))
const Values = Schema.Array(Schema.String)

/**
 * Conditions on the verified caller. Within one list any value matches; every list given must
 * match.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Conditions = Schema.Struct({
  /** The token holds every one of these scopes (otherwise the rule does not apply). */
  scopes: Schema.optionalKey(Values),
  /** The verified subject (`sub`) is one of these. */
  subjects: Schema.optionalKey(Values),
  /** The verified email (case-insensitive); only an email the IdP marks verified counts. */
  emails: Schema.optionalKey(Values),
  /** The domain of the verified email (case-insensitive). */
  email_domains: Schema.optionalKey(Values),
  /** The `groups` claim (a string or an array of strings) holds one of these. */
  groups: Schema.optionalKey(Values),
  /** The `roles` claim (a string or an array of strings) holds one of these. */
  roles: Schema.optionalKey(Values),
  /** Any claim by name, holding one of the values (e.g. `tenant: [acme]`). */
  claims: Schema.optionalKey(Schema.Record(Schema.String, Values)),
  /** The OAuth client the token was issued to. */
  client_ids: Schema.optionalKey(Values),
})

/**
 * One rule. Patterns are globs: `*` matches any run of characters, everything else itself.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Rule = Schema.Struct({
  /** Named in decisions and audit lines; default `rules[<index>]`. */
  id: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1))),
  effect: Schema.Literals(["allow", "deny"]),
  /** JSON-RPC methods (globs); absent = any method. */
  methods: Schema.optionalKey(Patterns),
  /** Tool names of `tools/call` (globs). */
  tools: Schema.optionalKey(Patterns),
  /** Resource URIs of `resources/read` (globs). */
  resources: Schema.optionalKey(Patterns),
  /** Prompt names of `prompts/get` (globs). */
  prompts: Schema.optionalKey(Patterns),
  when: Schema.optionalKey(Conditions),
  /**
   * `allow` rules only: scopes the token must hold for the allow to take effect. A caller the rule
   * matches but who lacks one is denied with a step-up challenge naming them.
   */
  scopes: Schema.optionalKey(Values),
}).check(
  Schema.makeFilter((rule) =>
    rule.effect === "deny" && rule.scopes !== undefined
      ? { path: ["scopes"], issue: "scopes applies to allow rules only (a deny rule cannot be stepped up)" }
      : undefined,
  ),
)

/**
 * The policy file.
 *
 * @category schemas
 * @since 0.1.0
 */
export const PolicyFile = Schema.Struct({
  /** What happens to a call no rule matches. Required: the choice is the operator's, not ours. */
  default: Schema.Literals(["allow", "deny"]),
  rules: Schema.Array(Rule),
})

/**
 * @category models
 * @since 0.1.0
 */
export type PolicyFile = typeof PolicyFile.Type

/**
 * One reason a policy file does not decode: the path of the offending field and what is wrong.
 *
 * @category models
 * @since 0.1.0
 */
export interface Issue {
  readonly path: ReadonlyArray<string | number>
  readonly message: string
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Decodes and compiles a policy file's parsed content, reporting every bad field. An unknown field
 * is an error, not ignored: a misspelled `tool:` must not widen a rule to every call.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (input: unknown): Result.Result<Policy, ReadonlyArray<Issue>> => {
  const decoded = Schema.decodeUnknownResult(PolicyFile)(input, { errors: "all", onExcessProperty: "error" })
  if (Result.isSuccess(decoded)) return Result.succeed(compile(decoded.success))
  return Result.fail(
    formatter(decoded.failure.issue).issues.map((i) => ({
      path: (i.path ?? []).map((p) => {
        const key = typeof p === "object" && p !== null ? p.key : p
        return typeof key === "number" ? key : String(key)
      }),
      message: i.message,
    })),
  )
}

/**
 * The verified caller, as the policy sees it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Caller {
  readonly subject: string
  readonly client_id: string
  readonly scopes: ReadonlySet<string>
  /** Lower-case; only when verified (or trusted, see `callerOf`). */
  readonly email: string | undefined
  readonly claims: Readonly<Record<string, unknown>>
}

/**
 * The caller behind `token`. The email counts only as `VerifiedEmail.of` counts it: a plausible
 * addr-spec the IdP says is verified (`email_verified: true`), unless `trustUnverifiedEmail` (the
 * gateway's setting for IdPs that never send the claim).
 *
 * @category constructors
 * @since 0.1.0
 */
export const callerOf = (
  token: AccessToken,
  options: { readonly trustUnverifiedEmail?: boolean } = {},
): Caller => {
  const email = VerifiedEmail.of(token.claims, options)
  return {
    subject: token.subject,
    client_id: token.client_id,
    scopes: new Set(token.scopes),
    email: email?.toLowerCase(),
    claims: token.claims,
  }
}

/**
 * A decision. A denial with `missingScopes` can be fixed by a token holding them (step-up).
 *
 * @category models
 * @since 0.1.0
 */
export interface Decision {
  readonly effect: "allow" | "deny"
  /** The deciding rule's id (`rules[<index>]` when it has none), or `default`. */
  readonly rule: string
  readonly missingScopes?: ReadonlyArray<string>
}

type Test = (caller: Caller, call: JsonRpc.Call) => boolean

interface CompiledRule {
  readonly rule: string
  readonly effect: "allow" | "deny"
  readonly matches: Test
  readonly scopes: ReadonlyArray<string>
}

/**
 * A compiled policy.
 *
 * @category models
 * @since 0.1.0
 */
export interface Policy {
  readonly default: "allow" | "deny"
  readonly rules: ReadonlyArray<CompiledRule>
}

/**
 * A glob as an anchored matcher: `*` is any run of characters (newlines included), every other
 * character stands for itself.
 *
 * @category utils
 * @since 0.1.0
 */
export const glob = (pattern: string): ((value: string) => boolean) => {
  const stars = pattern.split("*").length - 1
  if (stars === 0) return (value) => value === pattern
  // The common shapes without a regular expression: `prefix*`, `*suffix`, `*`.
  if (stars === 1 && pattern.endsWith("*")) {
    const prefix = pattern.slice(0, -1)
    return (value) => value.startsWith(prefix)
  }
  if (stars === 1 && pattern.startsWith("*")) {
    const suffix = pattern.slice(1)
    return (value) => value.endsWith(suffix)
  }
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[\\^$.|?+()[\]{}/-]/g, "\\$&"))
    .join(".*")
  const re = new RegExp(`^${source}$`, "s")
  return (value) => re.test(value)
}

const anyGlob = (patterns: ReadonlyArray<string>): ((value: string) => boolean) => {
  const tests = patterns.map(glob)
  return (value) => tests.some((t) => t(value))
}

const claimValues = (value: unknown): ReadonlyArray<string> =>
  typeof value === "string" ? [value] : Array.isArray(value) ? value.filter((v) => typeof v === "string") : []

const claimHasOne = (name: string, values: ReadonlyArray<string>): Test => {
  const wanted = new Set(values)
  return (caller) => claimValues(caller.claims[name]).some((v) => wanted.has(v))
}

/** The conditions of `when` as one test; absent lists add nothing. */
const conditionTests = (when: typeof Conditions.Type): Array<Test> => {
  const tests: Array<Test> = []
  if (when.scopes !== undefined) {
    const scopes = when.scopes
    tests.push((c) => scopes.every((s) => c.scopes.has(s)))
  }
  if (when.subjects !== undefined) {
    const set = new Set(when.subjects)
    tests.push((c) => set.has(c.subject))
  }
  if (when.client_ids !== undefined) {
    const set = new Set(when.client_ids)
    tests.push((c) => set.has(c.client_id))
  }
  if (when.emails !== undefined) {
    const set = new Set(when.emails.map((e) => e.toLowerCase()))
    tests.push((c) => c.email !== undefined && set.has(c.email))
  }
  if (when.email_domains !== undefined) {
    const inDomains = VerifiedEmail.inDomains(when.email_domains)
    tests.push((c) => c.email !== undefined && inDomains(c.email))
  }
  if (when.groups !== undefined) tests.push(claimHasOne("groups", when.groups))
  if (when.roles !== undefined) tests.push(claimHasOne("roles", when.roles))
  for (const [name, values] of Object.entries(when.claims ?? {})) tests.push(claimHasOne(name, values))
  return tests
}

/** The method and target tests of a rule: a rule naming tools matches only `tools/call`, etc. */
const callTests = (rule: typeof Rule.Type): Array<Test> => {
  const tests: Array<Test> = []
  if (rule.methods !== undefined) {
    const method = anyGlob(rule.methods)
    tests.push((_, call) => method(call.method))
  }
  const targets: Array<[string, ReadonlyArray<string> | undefined]> = [
    ["tools/call", rule.tools],
    ["resources/read", rule.resources],
    ["prompts/get", rule.prompts],
  ]
  const byMethod = new Map(
    targets.flatMap(([m, patterns]) => (patterns === undefined ? [] : [[m, anyGlob(patterns)] as const])),
  )
  if (byMethod.size > 0)
    tests.push((_, call) => {
      const test = byMethod.get(call.method)
      return test !== undefined && call.target !== undefined && test(call.target)
    })
  return tests
}

/**
 * Compiles a decoded policy file: every glob and set is built once, so a decision allocates
 * nothing but its result.
 *
 * @category constructors
 * @since 0.1.0
 */
export const compile = (file: PolicyFile): Policy => ({
  default: file.default,
  rules: file.rules.map((rule, index) => {
    const tests = [...callTests(rule), ...conditionTests(rule.when ?? {})]
    return {
      rule: rule.id ?? `rules[${index}]`,
      effect: rule.effect,
      matches: (caller, call) => {
        for (const test of tests) if (!test(caller, call)) return false
        return true
      },
      scopes: rule.scopes ?? [],
    }
  }),
})

/**
 * Decides one call: the first rule whose method, target and conditions match decides; an `allow`
 * rule whose `scopes` the caller lacks denies with `missingScopes`; no match → the default.
 *
 * @category utils
 * @since 0.1.0
 */
export const decide = (policy: Policy, caller: Caller, call: JsonRpc.Call): Decision => {
  for (const rule of policy.rules) {
    if (!rule.matches(caller, call)) continue
    if (rule.effect === "deny") return { effect: "deny", rule: rule.rule }
    const missing = rule.scopes.filter((s) => !caller.scopes.has(s))
    return missing.length === 0
      ? { effect: "allow", rule: rule.rule }
      : { effect: "deny", rule: rule.rule, missingScopes: missing }
  }
  return { effect: policy.default, rule: "default" }
}

/**
 * Decides one classified message: a response (to a request the server sent) calls nothing and is
 * allowed; a request or notification is `decide`d.
 *
 * @category utils
 * @since 0.1.0
 */
export const decideMessage = (policy: Policy, caller: Caller, message: JsonRpc.Message): Decision =>
  message._tag === "Response" ? { effect: "allow", rule: "response" } : decide(policy, caller, message.call)

const listedMethod = { tool: "tools/call", resource: "resources/read", prompt: "prompts/get" } as const

/**
 * The list filter: whether an item of a `tools/list`, `resources/list` or `prompts/list` answer
 * stays visible to `caller`. Visible when calling it would be allowed, or denied only for missing
 * scopes (a client must see a tool to meet its step-up challenge); hidden when a call would be
 * denied outright — a list never shows what a call refuses.
 *
 * @category utils
 * @since 0.1.0
 */
export const allowsItem =
  (policy: Policy, caller: Caller) =>
  (kind: "tool" | "resource" | "prompt", name: string): boolean => {
    const decision = decide(policy, caller, { method: listedMethod[kind], target: name })
    return decision.effect === "allow" || decision.missingScopes !== undefined
  }

/**
 * The decisions on a classified body: one per message of a single message or batch, in order, or
 * the body's refusal when it is not JSON-RPC. An unclassifiable body is refused under every
 * default: nothing the policy could not read is forwarded.
 *
 * @category utils
 * @since 0.1.0
 */
export const decideBody = (
  policy: Policy,
  caller: Caller,
  body: JsonRpc.Classified,
):
  | Extract<JsonRpc.Classified, { readonly _tag: "Invalid" }>
  | {
      readonly _tag: "Decided"
      readonly entries: ReadonlyArray<{ readonly message: JsonRpc.Message; readonly decision: Decision }>
    } => {
  if (body._tag === "Invalid") return body
  const messages = body._tag === "Single" ? [body.message] : body.messages
  return {
    _tag: "Decided",
    entries: messages.map((message) => ({ message, decision: decideMessage(policy, caller, message) })),
  }
}

/**
 * Every scope a rule of `policy` may challenge for: what the authorization server lets a client
 * ask beyond its registration (`ProxyConfig.step_up_scopes`).
 *
 * @category utils
 * @since 0.1.0
 */
export const stepUpScopes = (policy: Policy): ReadonlyArray<string> => [
  ...new Set(policy.rules.flatMap((r) => r.scopes)),
]

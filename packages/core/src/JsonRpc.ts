/**
 * JSON-RPC 2.0 messages as the MCP policy sees them: a parsed request body classified into
 * requests, notifications and responses, with the `method` and, for the three calls a policy
 * names a target of (`tools/call`, `prompts/get`, `resources/read`), the tool, prompt or URI.
 *
 * Pure core: no I/O. A body that is not a JSON-RPC message (or batch of them) is `Invalid`, never
 * guessed at: the gateway refuses it instead of forwarding something it could not classify.
 *
 * @see [JSON-RPC 2.0 §4-§6](https://www.jsonrpc.org/specification)
 * @since 0.1.0
 */

/**
 * A JSON-RPC id: a string, a number, or `null` (a request whose id could not be read).
 *
 * @category models
 * @since 0.1.0
 */
export type Id = string | number | null

/**
 * What a message asks for: the method and, for a call with a target, that target.
 *
 * @category models
 * @since 0.1.0
 */
export interface Call {
  readonly method: string
  /** `params.name` of `tools/call` and `prompts/get`; `params.uri` of `resources/read`. */
  readonly target?: string
}

/**
 * One classified message. A `Response` answers a request the server sent (sampling,
 * elicitation): it calls nothing, so it has no `Call`.
 *
 * @category models
 * @since 0.1.0
 */
export type Message =
  | { readonly _tag: "Request"; readonly id: Exclude<Id, null>; readonly call: Call }
  | { readonly _tag: "Notification"; readonly call: Call }
  | { readonly _tag: "Response"; readonly id: Id }

/**
 * A classified body: one message, a batch (each element classified), or not JSON-RPC at all.
 *
 * @category models
 * @since 0.1.0
 */
export type Classified =
  | { readonly _tag: "Single"; readonly message: Message }
  | { readonly _tag: "Batch"; readonly messages: ReadonlyArray<Message> }
  | { readonly _tag: "Invalid"; readonly code: -32700 | -32600 | -32602; readonly reason: string }

/**
 * JSON-RPC error codes the gateway answers with.
 *
 * @category constants
 * @since 0.1.0
 */
export const codes = {
  parseError: -32700,
  invalidRequest: -32600,
  invalidParams: -32602,
  /** Server-defined range (-32000 to -32099): the policy refused the call. */
  forbidden: -32001,
} as const

/** Where each targeted method keeps its target. */
const targetField: Readonly<Record<string, "name" | "uri">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
}

const isObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const isId = (u: unknown): u is Exclude<Id, null> =>
  typeof u === "string" || (typeof u === "number" && Number.isFinite(u))

type Element = Message | { readonly _tag: "Invalid"; readonly code: -32600 | -32602; readonly reason: string }

const invalid = (code: -32600 | -32602, reason: string): Element => ({ _tag: "Invalid", code, reason })

/** The call of a request or notification; a targeted method without a string target is invalid. */
const callOf = (method: string, params: unknown): Call | Element => {
  const field = targetField[method]
  if (field === undefined) return { method }
  const target = isObject(params) ? params[field] : undefined
  if (typeof target !== "string") return invalid(-32602, `${method} needs a string params.${field}`)
  return { method, target }
}

/** Classifies one parsed element (not an array). */
const element = (u: unknown): Element => {
  if (!isObject(u) || u["jsonrpc"] !== "2.0") return invalid(-32600, "not a JSON-RPC 2.0 message")
  const method = u["method"]
  if (method === undefined) {
    // A response: an id and exactly one of result or error.
    if (!("id" in u) || !(isId(u["id"]) || u["id"] === null)) return invalid(-32600, "a response needs an id")
    if ("result" in u === "error" in u) return invalid(-32600, "a response has one of result or error")
    return { _tag: "Response", id: u["id"] as Id }
  }
  if (typeof method !== "string") return invalid(-32600, "method is not a string")
  if ("result" in u || "error" in u) return invalid(-32600, "a request has no result or error")
  const call = callOf(method, u["params"])
  if ("_tag" in call) return call
  if (!("id" in u)) return { _tag: "Notification", call }
  const id = u["id"]
  if (!isId(id)) return invalid(-32600, "id is not a string or a number")
  return { _tag: "Request", id, call }
}

/**
 * Classifies a parsed JSON body. A batch is classified element by element; one invalid element
 * makes the whole body `Invalid` (the gateway refuses it rather than forward part of it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const classify = (body: unknown): Classified => {
  if (!Array.isArray(body)) {
    const m = element(body)
    return m._tag === "Invalid" ? m : { _tag: "Single", message: m }
  }
  if (body.length === 0) return { _tag: "Invalid", code: -32600, reason: "an empty batch" }
  const messages: Array<Message> = []
  // Request ids as typed keys (1 and "1" stay apart): an answer is matched to its request by id
  // (list filtering), so two requests sharing one could have one's answer read as the other's.
  const ids = new Set<string>()
  for (const u of body) {
    const m = element(u)
    if (m._tag === "Invalid") return m
    if (m._tag === "Request") {
      const key = `${typeof m.id}:${m.id}`
      if (ids.has(key)) return { _tag: "Invalid", code: -32600, reason: "a request id appears twice" }
      ids.add(key)
    }
    messages.push(m)
  }
  return { _tag: "Batch", messages }
}

/**
 * A member name as a case-insensitive reader matches it: Go's `encoding/json` binds `"Method"` or
 * `"METHOD"` to a `method` field (and folds `ſ` to `s`, the Kelvin sign to `k`), so a body holding
 * `"method":"ping","Method":"tools/call"` would run a call the gateway never saw.
 */
const fold = (name: string): string => name.toUpperCase().toLowerCase()

/**
 * Whether any object of a JSON text (already known to parse) names a member twice, in any letter
 * case. Parsers disagree on which duplicate wins (`JSON.parse` keeps the last, others the first;
 * some match names case-insensitively), so a body with one could be decided as one call and run as
 * another.
 *
 * @see [RFC 8259 §4](https://www.rfc-editor.org/rfc/rfc8259#section-4)
 * @category predicates
 * @since 0.1.0
 */
export const hasDuplicateKeys = (text: string): boolean => {
  // One entry per open container: the member names seen so far, or null for an array.
  const stack: Array<Set<string> | null> = []
  let expectKey = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x22) {
      let j = i + 1
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1
      if (expectKey) {
        const raw = text.slice(i, j + 1)
        const key = fold(raw.includes("\\") ? (JSON.parse(raw) as string) : raw.slice(1, -1))
        const keys = stack[stack.length - 1]!
        if (keys.has(key)) return true
        keys.add(key)
        expectKey = false
      }
      i = j
    } else if (c === 0x7b) {
      stack.push(new Set())
      expectKey = true
    } else if (c === 0x5b) {
      stack.push(null)
      expectKey = false
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop()
      expectKey = false
    } else if (c === 0x2c) expectKey = stack[stack.length - 1] != null
  }
  return false
}

/**
 * Parses and classifies a body's UTF-8 text: text that is not JSON is `Invalid` with -32700; an
 * object naming a member twice (in any letter case) is `Invalid` with -32600 (see `hasDuplicateKeys`).
 * A leading byte order mark is -32700 too: RFC 8259 §8.1 forbids sending one and lets parsers
 * either skip it or fail, so MCP servers differ; refused, the body never reaches one that reads it
 * otherwise than the gate did (decode the bytes keeping the mark, `ignoreBOM: true`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (text: string): Classified => {
  if (text.charCodeAt(0) === 0xfeff)
    return { _tag: "Invalid", code: -32700, reason: "the body begins with a byte order mark" }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return { _tag: "Invalid", code: -32700, reason: "the body is not JSON" }
  }
  if (hasDuplicateKeys(text)) return { _tag: "Invalid", code: -32600, reason: "a member name appears twice" }
  return classify(body)
}

/**
 * The id a reply to `message` carries (`null` for one that has none).
 *
 * @category utils
 * @since 0.1.0
 */
export const idOf = (message: Message): Id => (message._tag === "Notification" ? null : message.id)

/**
 * A JSON-RPC error response object.
 *
 * @category constructors
 * @since 0.1.0
 */
export const errorResponse = (id: Id, code: number, message: string) => ({
  jsonrpc: "2.0" as const,
  id,
  error: { code, message },
})

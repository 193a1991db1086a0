/**
 * Filtering of MCP list responses (`tools/list`, `resources/list`, `resources/templates/list`,
 * `prompts/list`) to what a caller may call, so a caller is not shown what a call would deny.
 *
 * Pure core: functions over parsed JSON-RPC messages and their text, no I/O. The caller's rights
 * come as a `Permission` predicate (the policy's); the requests in flight come from the request
 * body (`listRequests`): an answer to one of them is filtered as its method's answer. Every other
 * message with a `result` object is treated as a list answer of each kind whose member it holds
 * (`tools`, `resources`, `resourceTemplates`, `prompts` as an array) and each such array is
 * filtered: a stream carries answers to requests the gateway did not see — the GET event stream of
 * Streamable HTTP, where a server resuming after `Last-Event-ID` replays earlier answers (`"any"`:
 * no request read at all), and a POST's stream, on which the MCP SDK sends the answer to any
 * request of the session with the same id. A client reads a list answer from those members only,
 * so nothing it would take for a list item passes unchecked; a non-list result with such a member
 * is filtered too (the safe side).
 * Items are matched by `name` (tools, prompts), `uri` (resources) or `uriTemplate` (resource
 * templates); an item without a string key is dropped (it cannot be checked). Everything else in
 * the message is kept, and a message from which nothing is removed is returned unchanged (the same
 * value, the same text byte for byte).
 *
 * @see [MCP: Tools, Resources, Prompts (list operations)](https://modelcontextprotocol.io/specification/2025-06-18/server/tools)
 * @since 0.1.0
 */

/**
 * What a permission is asked about.
 *
 * @category models
 * @since 0.1.0
 */
export type Kind = "tool" | "resource" | "prompt"

/**
 * Whether the caller may call the tool, read the resource (by URI or URI template) or get the
 * prompt named `name`. The policy's per-caller decision, without step-up: an item reachable by
 * stepping up should answer `true`.
 *
 * @category models
 * @since 0.1.0
 */
export type Permission = (kind: Kind, name: string) => boolean

/**
 * A list method the gateway filters.
 *
 * @category models
 * @since 0.1.0
 */
export type ListMethod = "tools/list" | "resources/list" | "resources/templates/list" | "prompts/list"

/** Per list method: the result member holding the items, the item's key, and its kind. */
const shapes: Readonly<
  Record<ListMethod, { readonly member: string; readonly key: string; readonly kind: Kind }>
> = {
  "tools/list": { member: "tools", key: "name", kind: "tool" },
  "resources/list": { member: "resources", key: "uri", kind: "resource" },
  "resources/templates/list": { member: "resourceTemplates", key: "uriTemplate", kind: "resource" },
  "prompts/list": { member: "prompts", key: "name", kind: "prompt" },
}

/**
 * Whether `method` is a list method the gateway filters.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isListMethod = (method: unknown): method is ListMethod =>
  typeof method === "string" && Object.hasOwn(shapes, method)

/**
 * The list requests in flight, by `idKey` of their JSON-RPC id.
 *
 * @category models
 * @since 0.1.0
 */
export type Pending = ReadonlyMap<string, ListMethod>

/**
 * A JSON-RPC id as a map key that keeps `1` and `"1"` apart; `undefined` for a value that is no
 * id (notifications, `null`).
 *
 * @category utils
 * @since 0.1.0
 */
export const idKey = (id: unknown): string | undefined =>
  typeof id === "string" ? `s${id}` : typeof id === "number" ? `n${id}` : undefined

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * The list requests of a parsed JSON-RPC request message (one request or a batch).
 *
 * @category constructors
 * @since 0.1.0
 */
export const listRequests = (message: unknown): Pending => {
  const pending = new Map<string, ListMethod>()
  for (const element of Array.isArray(message) ? message : [message]) {
    if (!isRecord(element) || !isListMethod(element["method"])) continue
    const key = idKey(element["id"])
    if (key !== undefined) pending.set(key, element["method"])
  }
  return pending
}

/**
 * Whether two requests of a batch share an id. Answers are matched to list requests by id alone,
 * so `[{id:1, tools/list}, {id:1, resources/list}]` would have the tools answer checked as a
 * resources one and pass unfiltered: such a body is refused, never filtered.
 *
 * @category predicates
 * @since 0.1.0
 */
export const repeatsId = (message: unknown): boolean => {
  if (!Array.isArray(message)) return false
  const seen = new Set<string>()
  for (const element of message) {
    if (!isRecord(element) || typeof element["method"] !== "string") continue
    const key = idKey(element["id"])
    if (key === undefined) continue
    if (seen.has(key)) return true
    seen.add(key)
  }
  return false
}

const filterResult = (result: unknown, method: ListMethod, allow: Permission): unknown => {
  const shape = shapes[method]
  if (!isRecord(result)) return result
  const items = result[shape.member]
  if (!Array.isArray(items)) return result
  const kept = items.filter((item) => {
    const name = isRecord(item) ? item[shape.key] : undefined
    return typeof name === "string" && allow(shape.kind, name)
  })
  return kept.length === items.length ? result : { ...result, [shape.member]: kept }
}

/**
 * The list answers expected: those to `Pending` requests, matched by id (every other result by the
 * members it holds), or `"any"` (a stream answering no request the gateway read): every result by
 * the members it holds.
 *
 * @category models
 * @since 0.1.0
 */
export type Expected = Pending | "any"

const listMethods = Object.keys(shapes) as ReadonlyArray<ListMethod>

/** Every list member a result holds, filtered. */
const filterAnyResult = (result: unknown, allow: Permission): unknown =>
  listMethods.reduce((out, method) => filterResult(out, method, allow), result)

/**
 * The pending list requests an answer's id may be taken for: its own, and the one a client
 * comparing ids loosely matches — the MCP TypeScript SDK looks an answer up by `Number(id)`, so an
 * answer to request `9` with id `"9"` (or `"0x9"`) is taken as that request's and must be filtered
 * as one.
 */
const methodsFor = (id: unknown, pending: Pending): ReadonlyArray<ListMethod> => {
  const keys =
    typeof id === "string" ? [`s${id}`, `n${Number(id)}`] : typeof id === "number" ? [`n${id}`, `s${id}`] : []
  const methods: Array<ListMethod> = []
  for (const key of keys) {
    const method = pending.get(key)
    if (method !== undefined && !methods.includes(method)) methods.push(method)
  }
  return methods
}

const filterOne = (element: unknown, pending: Expected, allow: Permission): unknown => {
  if (!isRecord(element) || !Object.hasOwn(element, "result")) return element
  const methods = pending === "any" ? [] : methodsFor(element["id"], pending)
  // An answer to no pending list request is filtered by its shape: a server may send a list answer
  // on another request's stream (the MCP SDK routes an answer by its id alone, so a second request
  // of the session reusing the id receives it).
  let result = element["result"]
  if (methods.length === 0) result = filterAnyResult(result, allow)
  for (const method of methods) result = filterResult(result, method, allow)
  return result === element["result"] ? element : { ...element, result }
}

/**
 * `message` (one JSON-RPC message or a batch) with the items that `allow` refuses removed from
 * every response to a pending list request and from every other result's list members; the same
 * value when nothing is removed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const filterMessage = (message: unknown, pending: Expected, allow: Permission): unknown => {
  if (!Array.isArray(message)) return filterOne(message, pending, allow)
  let changed = false
  const out = message.map((element) => {
    const filtered = filterOne(element, pending, allow)
    if (filtered !== element) changed = true
    return filtered
  })
  return changed ? out : message
}

/**
 * The JSON text of a message after `filterMessage`: `text` itself when it is not JSON or nothing is
 * removed, otherwise the filtered message serialized.
 *
 * @category constructors
 * @since 0.1.0
 */
export const filterText = (text: string, pending: Expected, allow: Permission): string => {
  let message: unknown
  try {
    // A UTF-8 byte order mark is what `Response.json()` skips too.
    message = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch {
    return text
  }
  const filtered = filterMessage(message, pending, allow)
  return filtered === message ? text : serialize(filtered, message, pending)
}

/**
 * The filtered message as JSON text; when it cannot be written (`JSON.stringify` overflows its
 * stack on arrays nested some 100,000 deep, which `JSON.parse` reads), a JSON-RPC error for each
 * list request the message answers instead — never the unfiltered text.
 *
 * @category constructors
 * @since 0.1.0
 */
export const serialize = (filtered: unknown, message: unknown, pending: Expected): string => {
  try {
    return JSON.stringify(filtered)
  } catch {
    // A GET stream's answers name no request the gateway read: one error without an id.
    const ids = (pending === "any" ? [] : answered(message, pending)).map((key) =>
      key.startsWith("s") ? key.slice(1) : Number(key.slice(1)),
    )
    const errors = (ids.length === 0 ? [null] : ids).map((id) => ({
      jsonrpc: "2.0",
      id,
      error: { code: -32603, message: "The gateway cannot filter this list answer: it is nested too deep" },
    }))
    return JSON.stringify(errors.length === 1 ? errors[0] : errors)
  }
}

/**
 * The ids among `pending` that `message` (one message or a batch) answers, result or error.
 *
 * @category utils
 * @since 0.1.0
 */
export const answered = (message: unknown, pending: Pending): ReadonlyArray<string> => {
  const keys: Array<string> = []
  for (const element of Array.isArray(message) ? message : [message]) {
    if (!isRecord(element)) continue
    const key = idKey(element["id"])
    if (key !== undefined && pending.has(key)) keys.push(key)
  }
  return keys
}

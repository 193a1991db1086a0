/**
 * The request side of the gateway's MCP policy: a POST to the protected resource is read up to a
 * bound, classified as JSON-RPC, decided by core's `McpPolicy`, and then forwarded with its bytes
 * unchanged, refused with JSON-RPC errors, or answered with a step-up challenge.
 *
 * Adapter over the Fetch API, between the bearer check and `ReverseProxy`. Answers:
 * - body over the bound: 413 with a JSON-RPC error (-32600), read no further;
 * - not `application/json`, or a `charset` other than UTF-8 (`MediaType.jsonBody`): 415 with a
 *   JSON-RPC error (-32600) — the target could decode the bytes as other text than the gate did;
 * - a leading byte order mark: 400, -32700 (`JsonRpc.parse`);
 * - not JSON: 400, -32700; JSON but not JSON-RPC: 400, -32600 (-32602 for a targeted call
 *   without its name or URI) — under every default, so nothing unclassified is forwarded;
 * - every denied message denied only for scopes: 403 `insufficient_scope` whose `scope` lists the
 *   missing scopes with those granted (`BearerDecision.insufficientScope`, the bearer check's own);
 * - otherwise any denied message refuses the whole body: HTTP 200 with a JSON-RPC error (-32001)
 *   for each request (an array for a batch), so the client sees an ordinary error result; a body of
 *   notifications only gets 403 with one error whose id is null.
 * GET, DELETE and HEAD (the SSE stream, session end) carry no call and pass unchanged; one that
 * announces a body is refused (400, -32600), so nothing reaches the target unread.
 *
 * @see [MCP authorization §scope challenge handling](https://modelcontextprotocol.io/specification/draft/basic/authorization)
 * @since 0.1.0
 */
import {
  type AccessToken,
  BearerDecision,
  JsonRpc,
  McpListFilter,
  McpPolicy,
  MediaType,
} from "@oidc-proxy/core"
import { Respond } from "@oidc-proxy/http"

/**
 * What one MCP message amounted to: the audit line's content (no token, no arguments).
 *
 * @category models
 * @since 0.1.0
 */
export interface Record {
  readonly subject: string
  readonly client_id: string
  readonly method: string | null
  /** Tool name, prompt name or resource URI of a targeted call. */
  readonly target: string | null
  readonly decision: "allow" | "deny" | "step_up"
  readonly rule: string
  readonly status: number
  readonly latency_ms: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The policy in force, read per request (a reload swaps it); `undefined`: audit only, allow all. */
  readonly policy: () => McpPolicy.Policy | undefined
  /** Largest body read, in bytes. */
  readonly maxBody: number
  /** The RFC 9728 metadata URL named in a challenge. */
  readonly resourceMetadata: string
  readonly trustUnverifiedEmail: boolean
}

/**
 * The gate: `forward` is the reverse proxy. Resolves to the answer and one record per message.
 *
 * @category models
 * @since 0.1.0
 */
export type Gate = (
  request: Request,
  token: AccessToken.AccessToken,
  forward: (request: Request) => Promise<Response>,
) => Promise<{ readonly response: Response; readonly records: ReadonlyArray<Record> }>

const allowAll: McpPolicy.Policy = { default: "allow", rules: [] }

const rpcError = (status: number, id: JsonRpc.Id, code: number, message: string): Response =>
  Respond.json(status, JsonRpc.errorResponse(id, code, message))

/** The body, or `undefined` past `max` bytes (reading stops there) or when it cannot be read. */
const readBounded = async (
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array<ArrayBuffer> | "too_large" | undefined> => {
  if (body === null) return new Uint8Array(0)
  const reader = body.getReader()
  const chunks: Array<Uint8Array> = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.length
      if (size > max) {
        reader.cancel().catch(() => undefined)
        return "too_large"
      }
      chunks.push(value)
    }
  } catch {
    return undefined
  }
  const bytes = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    bytes.set(c, at)
    at += c.length
  }
  return bytes
}

/**
 * Whether a request announces a body (RFC 9112 §6.3).
 *
 * @category predicates
 * @since 0.1.0
 */
export const hasBody = (headers: { get: (name: string) => string | null }): boolean =>
  headers.get("transfer-encoding") !== null || (headers.get("content-length") ?? "0").trim() !== "0"

// The mark is kept in the text: `JsonRpc.parse` refuses it, as the list filter does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * The 415 for a body that is not JSON in UTF-8, `undefined` for one that is (`MediaType.jsonBody`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const refuseMediaType = (contentType: string | null): Response | undefined => {
  const read = MediaType.jsonBody(contentType)
  if (read._tag === "Json") return undefined
  if (read._tag === "NotJson")
    return rpcError(415, null, JsonRpc.codes.invalidRequest, "Content-Type must be application/json")
  return rpcError(415, null, JsonRpc.codes.invalidRequest, charsetMessage(read.charset))
}

/**
 * The refusal's text for a body in a charset other than UTF-8 (the value named when it is a plain token).
 *
 * @category constructors
 * @since 0.1.0
 */
export const charsetMessage = (charset: string | undefined): string =>
  charset !== undefined && /^[A-Za-z0-9._:-]{1,40}$/.test(charset)
    ? `Content-Type charset must be utf-8, not ${charset}`
    : "Content-Type charset must be utf-8"

/** The body's text and classification, or the refusal of a body that cannot be classified. */
const classifyRequest = async (
  request: Request,
  maxBody: number,
): Promise<{ readonly bytes: Uint8Array<ArrayBuffer>; readonly text: string } | Response> => {
  const unsupported = refuseMediaType(request.headers.get("content-type"))
  if (unsupported !== undefined) return unsupported
  const declared = Number(request.headers.get("content-length") ?? "0")
  const tooLarge = () =>
    rpcError(413, null, JsonRpc.codes.invalidRequest, `The request body exceeds ${maxBody} bytes`)
  if (declared > maxBody) return tooLarge()
  const bytes = await readBounded(request.body, maxBody)
  if (bytes === "too_large") return tooLarge()
  if (bytes === undefined)
    return rpcError(400, null, JsonRpc.codes.parseError, "The request body could not be read")
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return rpcError(400, null, JsonRpc.codes.parseError, "Parse error: the body is not UTF-8")
  }
  return { bytes, text }
}

type Entry = { readonly message: JsonRpc.Message; readonly decision: McpPolicy.Decision }

/** The policy's decisions on a body's text (an unclassifiable body is refused under every default). */
const decideText = (options: Options, text: string, token: AccessToken.AccessToken) =>
  McpPolicy.decideBody(
    options.policy() ?? allowAll,
    McpPolicy.callerOf(token, { trustUnverifiedEmail: options.trustUnverifiedEmail }),
    JsonRpc.parse(text),
  )

/** One audit record per message of a decided body, answered with `status`. */
const recordsOf = (
  token: AccessToken.AccessToken,
  entries: ReadonlyArray<Entry>,
  status: number,
  started: number,
): ReadonlyArray<Record> =>
  entries.map((e) => {
    const call = e.message._tag === "Response" ? undefined : e.message.call
    const decision =
      e.decision.effect === "allow"
        ? "allow"
        : status === 403 && e.decision.missingScopes !== undefined
          ? "step_up"
          : "deny"
    return {
      subject: token.subject,
      client_id: token.client_id,
      method: call?.method ?? null,
      target: call?.target ?? null,
      decision,
      rule: e.decision.rule,
      status,
      latency_ms: Math.round((performance.now() - started) * 10) / 10,
    }
  })

/**
 * The fast path's share of the gate (the gateway's Node path reads small bodies itself): the
 * declared length of a POST whose body it may read whole and decide — JSON in UTF-8, not
 * encoded, no `Transfer-Encoding`, a length up to `max` — or `undefined`, and the request takes the
 * full gate. `headers` are lower-cased names, repeated fields joined.
 *
 * @category utils
 * @since 0.1.0
 */
export const readableLength = (headers: { readonly [name: string]: string | undefined }, max: number) => {
  const length = headers["content-length"]
  if (
    length === undefined ||
    !/^\d{1,9}$/.test(length) ||
    Number(length) > max ||
    headers["transfer-encoding"] !== undefined ||
    headers["content-encoding"] !== undefined ||
    // The full gate's own media-type rule: JSON in UTF-8, or that gate answers (415).
    MediaType.jsonBody(headers["content-type"] ?? null)._tag !== "Json"
  )
    return undefined
  return Number(length)
}

/**
 * The fast path's decision on a body read whole: when every message is allowed, the audit records
 * to complete with the target's status and the list requests among them (whose answers list
 * filtering must see); otherwise `undefined`, and the full gate reads the same bytes and answers —
 * so every refusal is the gate's own.
 *
 * @category utils
 * @since 0.1.0
 */
export const allowedBody = (
  options: Options,
  bytes: Uint8Array,
  token: AccessToken.AccessToken,
  started: number,
):
  | {
      readonly records: (status: number) => ReadonlyArray<Record>
      readonly lists: McpListFilter.Pending
    }
  | undefined => {
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return undefined
  }
  const decided = decideText(options, text, token)
  if (decided._tag === "Invalid") return undefined
  const lists = new Map<string, McpListFilter.ListMethod>()
  for (const e of decided.entries) {
    if (e.decision.effect !== "allow") return undefined
    if (e.message._tag === "Request" && McpListFilter.isListMethod(e.message.call.method)) {
      const key = McpListFilter.idKey(e.message.id)
      if (key !== undefined) lists.set(key, e.message.call.method)
    }
  }
  return { records: (status) => recordsOf(token, decided.entries, status, started), lists }
}

/** The answer to a body with at least one denied message. */
const refusal = (token: AccessToken.AccessToken, entries: ReadonlyArray<Entry>, resourceMetadata: string) => {
  const denied = entries.filter((e) => e.decision.effect === "deny")
  if (denied.every((e) => e.decision.missingScopes !== undefined)) {
    const missing = denied.flatMap((e) => e.decision.missingScopes ?? [])
    return Respond.deny(BearerDecision.insufficientScope(missing, token.scopes), resourceMetadata)
  }
  const errors = entries.flatMap((e) =>
    e.message._tag === "Notification"
      ? []
      : [
          JsonRpc.errorResponse(
            JsonRpc.idOf(e.message),
            JsonRpc.codes.forbidden,
            e.decision.effect === "deny"
              ? "Forbidden: the gateway's policy denies this call"
              : "Not sent: another message of this batch was denied",
          ),
        ],
  )
  if (errors.length === 0)
    return rpcError(403, null, JsonRpc.codes.forbidden, "Forbidden: the gateway's policy denies this call")
  return Respond.json(200, entries.length === 1 && errors.length === 1 ? errors[0] : errors)
}

/**
 * Builds the gate.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make =
  (options: Options): Gate =>
  async (request, token, forward) => {
    const started = performance.now()
    if (request.method !== "POST") {
      // Only a POST carries JSON-RPC messages; a body elsewhere would reach the target unread.
      if (!hasBody(request.headers)) return { response: await forward(request), records: [] }
      const response = rpcError(400, null, JsonRpc.codes.invalidRequest, "Only a POST may carry a body")
      return { response, records: [] }
    }
    const record = (rule: string, status: number): Record => ({
      subject: token.subject,
      client_id: token.client_id,
      method: null,
      target: null,
      decision: "deny",
      rule,
      status,
      latency_ms: Math.round((performance.now() - started) * 10) / 10,
    })
    const classified = await classifyRequest(request, options.maxBody)
    if (classified instanceof Response)
      return {
        response: classified,
        records: [record("unreadable", classified.status)],
      }
    const decided = decideText(options, classified.text, token)
    if (decided._tag === "Invalid") {
      const response = rpcError(
        400,
        null,
        decided.code,
        decided.code === -32700 ? `Parse error: ${decided.reason}` : `Invalid request: ${decided.reason}`,
      )
      return { response, records: [record("invalid", 400)] }
    }
    const allowed = decided.entries.every((e) => e.decision.effect === "allow")
    const response = allowed
      ? await forward(
          new Request(request.url, {
            method: "POST",
            headers: request.headers,
            body: classified.bytes,
            signal: request.signal,
          }),
        )
      : refusal(token, decided.entries, options.resourceMetadata)
    return { response, records: recordsOf(token, decided.entries, response.status, started) }
  }

/**
 * Reading untrusted request input: query and form parameters, JSON bodies, cookies and the bearer
 * token, with size limits.
 *
 * Adapter (Web `Request` only). A parameter sent twice is an `invalid_request` (RFC 6749 §3.1); a
 * body over the limit is refused before it is parsed, without reading the rest of it.
 *
 * @since 0.1.0
 */
import { Admission, OAuthError, Store } from "@oidc-proxy/core"
import { Effect } from "effect"

/**
 * Default maximum body size, in bytes (64 KiB).
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultMaxBodyBytes = 64 * 1024

/**
 * Maximum bearer-token length, in characters (`Admission.maxTokenLength`).
 *
 * @category constants
 * @since 0.1.0
 */
export const maxTokenLength = Admission.maxTokenLength

const sources = new WeakMap<Request, string>()

/**
 * Records the peer address a server accepted `request` from (a runtime's own knowledge, never a
 * header a caller could send); `source` reads it back. Quotas count per source.
 *
 * @category constructors
 * @since 0.1.0
 */
export const withSource = (request: Request, address: string | undefined): Request => {
  if (address !== undefined) sources.set(request, address)
  return request
}

/**
 * The peer address recorded with `withSource`, or `undefined` when the runtime gave none.
 *
 * @category constructors
 * @since 0.1.0
 */
export const source = (request: Request): string | undefined => sources.get(request)

const tooLarge = () => OAuthError.oauth("invalid_request", "the request body is too large")

/**
 * Parameters as a record; fails when one is repeated.
 *
 * @category constructors
 * @since 0.1.0
 */
export const params = (
  search: URLSearchParams,
): Effect.Effect<Record<string, string>, OAuthError.OAuthFailure> => {
  const out: Record<string, string> = Object.create(null)
  for (const [k, v] of search) {
    if (k in out)
      return Effect.fail(OAuthError.oauth("invalid_request", `parameter ${k.slice(0, 40)} is repeated`))
    out[k] = v
  }
  return Effect.succeed(out)
}

/**
 * Reads a body as text, refusing more than `limit` bytes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const text = (request: Request, limit: number): Effect.Effect<string, OAuthError.OAuthFailure> =>
  Effect.tryPromise({
    try: async () => {
      const declared = Number(request.headers.get("content-length") ?? "0")
      if (declared > limit) throw tooLarge()
      if (request.body === null) return ""
      const reader = request.body.getReader()
      const chunks: Array<Uint8Array> = []
      let size = 0
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        size += value.byteLength
        if (size > limit) {
          await reader.cancel()
          throw tooLarge()
        }
        chunks.push(value)
      }
      const all = new Uint8Array(size)
      let offset = 0
      for (const c of chunks) {
        all.set(c, offset)
        offset += c.byteLength
      }
      return new TextDecoder().decode(all)
    },
    // A body that cannot be read (the caller went away) is answered as one too large to read.
    catch: () => tooLarge(),
  })

/**
 * Reads an `application/x-www-form-urlencoded` body.
 *
 * @category constructors
 * @since 0.1.0
 */
export const form = (request: Request, limit: number) =>
  Effect.gen(function* () {
    const type = request.headers.get("content-type") ?? ""
    if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      return yield* OAuthError.oauth("invalid_request", "the body must be application/x-www-form-urlencoded")
    }
    return yield* params(new URLSearchParams(yield* text(request, limit)))
  })

/**
 * `JSON.parse`, answering `"ill-formed"` when a member name or a string holds a lone UTF-16
 * surrogate. A decoded body is always well-formed text, but a `\uD800` escape is not: it is the one
 * way request input gets a lone surrogate (a query or form value cannot carry one — percent-decoding
 * and `URLSearchParams` turn ill-formed UTF-8 into U+FFFD).
 */
const parseWellFormed = (body: string): unknown => {
  let wellFormed = true
  const value: unknown = JSON.parse(body, (key, member: unknown) => {
    if (!Store.isWellFormed(key) || (typeof member === "string" && !Store.isWellFormed(member)))
      wellFormed = false
    return member
  })
  return wellFormed ? value : illFormedJson
}

const illFormedJson: unique symbol = Symbol("ill-formed")

/**
 * Reads a JSON body; malformed JSON is `invalid_client_metadata` (the only JSON endpoint is DCR),
 * and so is a string or member name with a lone UTF-16 surrogate (a `\uD800`-style escape): such a
 * string has no UTF-8 form, and every UTF-8 store would write it as U+FFFD, merging it with others.
 *
 * @category constructors
 * @since 0.1.0
 */
export const json = (request: Request, limit: number) =>
  Effect.gen(function* () {
    const type = request.headers.get("content-type") ?? ""
    if (!type.toLowerCase().startsWith("application/json")) {
      return yield* OAuthError.oauth("invalid_client_metadata", "the body must be application/json")
    }
    const body = yield* text(request, limit)
    let parsed: unknown
    try {
      parsed = parseWellFormed(body)
    } catch {
      return yield* OAuthError.oauth("invalid_client_metadata", "the body is not valid JSON")
    }
    if (parsed === illFormedJson)
      return yield* OAuthError.oauth(
        "invalid_client_metadata",
        "the body holds a string with a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape not in a pair)",
      )
    return parsed
  })

/** RFC 6265 §4.2.1 optional whitespace: space and tab, nothing else. */
const trimOws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, "")

/**
 * The request's cookies (the first value of a repeated name wins). Names and values are trimmed of
 * spaces and tabs only: `String.prototype.trim` also strips a no-break space, vertical tab or form
 * feed, so a cookie named `\u00a0__Host-oidcp_browser` — which a browser lets a sibling subdomain
 * set, the prefix rule not applying to that name — would be read as the `__Host-` cookie.
 *
 * @category constructors
 * @since 0.1.0
 */
export const cookies = (request: Request): Record<string, string> => {
  const out: Record<string, string> = Object.create(null)
  const header = request.headers.get("cookie")
  if (header === null) return out
  for (const part of header.split(";")) {
    const i = part.indexOf("=")
    if (i < 0) continue
    const name = trimOws(part.slice(0, i))
    if (name !== "" && !(name in out)) out[name] = trimOws(part.slice(i + 1))
  }
  return out
}

/**
 * The bearer token of the `Authorization` header: `undefined` when there is none (or another
 * scheme), `""` when the header is malformed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bearer = (request: Request): string | undefined =>
  bearerOfHeader(request.headers.get("authorization"))

/**
 * `bearer` over the `Authorization` header's value (repeated fields combined with `, `, as
 * `Headers` does), for edges that read headers without a `Request`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bearerOfHeader = (header: string | null | undefined): string | undefined => {
  if (header === null || header === undefined) return undefined
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(header)
  if (m !== null) return m[1]
  return /^Bearer\b/i.test(header) ? "" : undefined
}

/**
 * The edge's one question to core before the bearer pipeline: is this path protected, and if it
 * is, which bearer token does the request carry — or which challenge answers it at once.
 *
 * Pure core. Every edge (the gateway's fast path, the fetch handler, the MCP SDK verifier) calls
 * `make(settings)` once and asks it per request; the common case (a well-formed bearer) allocates
 * nothing but the token's substring. The bearer comes from the `Authorization` header only
 * (RFC 6750 §2.1; never a query or form parameter), is at most `maxTokenLength` characters, and,
 * when it is a compact JWS, each segment must be canonical base64url (RFC 7515 §2: no padding, no
 * `+`/`/`, no non-zero padding bits), so one token has one spelling.
 *
 * @see [RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)
 * @see [RFC 4648 §3.5](https://www.rfc-editor.org/rfc/rfc4648#section-3.5) (canonical encoding)
 * @since 0.1.0
 */
import * as BearerDecision from "./BearerDecision.ts"
import type { ProxyConfig } from "./ProxyConfig.ts"
import * as Scopes from "./Scopes.ts"

/**
 * Maximum bearer-token length, in characters: longer tokens are refused before any crypto runs.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxTokenLength = 8192

/** 1 = base64url; 2 = the other `b64token` characters of RFC 6750 (`~`, `+`, `/`, `=`); 3 = `.`. */
const charClass = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
  charClass[c.charCodeAt(0)] = 1
for (const c of "~+/=") charClass[c.charCodeAt(0)] = 2
charClass[46] = 3

/** Index of each base64url character in its alphabet (for the padding bits of a last character). */
const sextet = new Int8Array(128).fill(-1)
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".split("").forEach((c, i) => {
  sextet[c.charCodeAt(0)] = i
})

/** Whether the segment `token[start, end)` ends canonically: no impossible length, no stray bits. */
const canonicalEnd = (token: string, start: number, end: number): boolean => {
  const n = end - start
  if (n === 0) return true
  const last = sextet[token.charCodeAt(end - 1)] ?? -1
  switch (n % 4) {
    case 1:
      return false
    case 2:
      return (last & 0x0f) === 0
    case 3:
      return (last & 0x03) === 0
    default:
      return true
  }
}

/**
 * The admission of one request's `Authorization` header: the bearer token, or the decision that
 * answers the request without running the pipeline.
 *
 * @category models
 * @since 0.1.0
 */
export type Bearer = string | BearerDecision.Deny

/**
 * The edge's admission, built once per configuration.
 *
 * @category models
 * @since 0.1.0
 */
export interface Admission {
  /** The protected resource's path (`/` = every path), without trailing slashes. */
  readonly resourcePath: string
  /** Whether requests to `path` need a bearer token (the resource and everything below it). */
  readonly isProtected: (path: string) => boolean
  /**
   * The bearer token of an `Authorization` header value, or the answer: 401 without `error` when
   * there is none (or another scheme, or a malformed header, RFC 6750 §3.1), 401 `invalid_token`
   * when it is too large or not a canonical JWT.
   */
  readonly bearer: (authorization: string | null | undefined) => Bearer
  /**
   * The same rules over a token already taken from its header (e.g. by the MCP SDK's middleware):
   * the token itself, or the refusal; an empty token is no credentials.
   */
  readonly token: (token: string) => Bearer
  /** The challenge of a request without credentials (the configured required scopes). */
  readonly unauthenticated: BearerDecision.Deny
}

const refusal = (description: string): BearerDecision.Deny => ({
  _tag: "Deny",
  status: 401,
  error: "invalid_token",
  description,
  challenge: { error: "invalid_token", error_description: description },
})
const tooLarge = refusal("The access token is too large")
const notCanonical = refusal("The access token is not a well-formed JWT")
/** A bare token outside RFC 6750's `b64token` syntax: it was sent, so it is invalid, not missing. */
const invalidSyntax = refusal("The access token is malformed")

/** `Bearer` (any case) at `header[0, 6)`. */
const isBearerScheme = (header: string): boolean =>
  header.length >= 6 &&
  (header.charCodeAt(0) | 32) === 98 &&
  (header.charCodeAt(1) | 32) === 101 &&
  (header.charCodeAt(2) | 32) === 97 &&
  (header.charCodeAt(3) | 32) === 114 &&
  (header.charCodeAt(4) | 32) === 101 &&
  (header.charCodeAt(5) | 32) === 114

/**
 * Reads the bearer of an `Authorization` value (`Bearer 1*SP b64token *SP`, RFC 6750 §2.1):
 * the token, `missing` when the header is absent, another scheme or malformed, `invalid` when it
 * is too large or a non-canonical JWT.
 */
const readBearer = (header: string, missing: BearerDecision.Deny): Bearer => {
  if (!isBearerScheme(header)) return missing
  let start = 6
  const n = header.length
  if (start >= n || header.charCodeAt(start) !== 32) return missing
  while (start < n && header.charCodeAt(start) === 32) start++
  let end = n
  while (end > start && header.charCodeAt(end - 1) === 32) end--
  if (end === start) return missing
  return readToken(header, start, end, missing)
}

/** The token `source[start, end)`: its size, `b64token` syntax and, for a JWT, canonical segments. */
const readToken = (source: string, start: number, end: number, missing: BearerDecision.Deny): Bearer => {
  if (end - start > maxTokenLength) return tooLarge
  let dots = 0
  let segment = start
  let canonical = true
  let equals = false
  for (let i = start; i < end; i++) {
    const c = source.charCodeAt(i)
    const k = c < 128 ? charClass[c] : 0
    if (k === 0) return missing
    if (k === 2) {
      // `=` only as trailing padding (RFC 6750 `b64token`); never in a JWT (RFC 7515 §2).
      if (c === 61) equals = true
      else if (equals) return missing
      canonical = false
    } else if (equals) return missing
    else if (k === 3) {
      if (!canonicalEnd(source, segment, i)) canonical = false
      dots++
      segment = i + 1
    }
  }
  if (dots === 2 && !(canonical && canonicalEnd(source, segment, end))) return notCanonical
  return start === 0 && end === source.length ? source : source.slice(start, end)
}

/**
 * The admission for a proxy with `settings`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (settings: Pick<ProxyConfig, "resource" | "required_scopes">): Admission => {
  const resourcePath = new URL(settings.resource).pathname.replace(/\/+$/, "") || "/"
  const unauthenticated = BearerDecision.unauthenticated(Scopes.union(settings.required_scopes, []))
  const prefix = `${resourcePath}/`
  return {
    resourcePath,
    isProtected:
      resourcePath === "/" ? () => true : (path) => path === resourcePath || path.startsWith(prefix),
    bearer: (authorization) =>
      authorization === null || authorization === undefined
        ? unauthenticated
        : readBearer(authorization, unauthenticated),
    token: (token) => (token === "" ? unauthenticated : readToken(token, 0, token.length, invalidSyntax)),
    unauthenticated,
  }
}

/**
 * The edge's request-target and method rules, applied before routing: what is routed, what the
 * bearer check sees and what is forwarded are one string, read from the request line as a path.
 *
 * Pure core. The rule, stated once:
 * - origin-form (`/…`) is a path, never a URL reference resolved against a base: `//host/x` is a
 *   path whose first segment is empty, not an authority (RFC 9112 §3.2.1);
 * - absolute-form (`http://host/…`) is accepted only for one of the server's own authorities, and
 *   then stands for its path (RFC 9112 §3.2.2); any other authority is refused;
 * - asterisk-form (`*`) only for `OPTIONS` (RFC 9112 §3.2.4);
 * - the path holds only RFC 3986 `pchar`s and `/`; a `%` not followed by two hex digits, an
 *   encoded NUL (`%00`), an encoded `/` or `\` (`%2F`, `%5C`: a target that decodes before routing
 *   would see other segments than the gateway checked) and a dot-segment (`.`, `..`, plain or
 *   percent-encoded) are refused, not normalised — a URL parser would rewrite them, and the
 *   readers would disagree.
 * Every refusal is a 400; nothing here throws.
 *
 * @see [RFC 9112 §3.2](https://www.rfc-editor.org/rfc/rfc9112#section-3.2)
 * @see [RFC 3986 §3.3](https://www.rfc-editor.org/rfc/rfc3986#section-3.3)
 * @since 0.1.0
 */

/** RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`, and `%` checked apart) plus `/`. */
const pathChar = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/")
  pathChar[c.charCodeAt(0)] = 1
/** RFC 3986 `query`: the path's characters and `?`. */
const queryChar = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@%/?")
  queryChar[c.charCodeAt(0)] = 1

const isHex = (c: number) => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102)

/** `%00` (NUL), `%2f` (`/`) and `%5c` (`\`); `low` is the second hex digit lower-cased. */
const isForbiddenEscape = (high: number, low: number): boolean =>
  (high === 48 && low === 48) || (high === 50 && low === 102) || (high === 53 && low === 99)

/** `.`, `..` and their percent-encoded spellings, lower-cased. */
const dotSegments = new Set([".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"])

/** Whether `raw[start, end)` is a dot-segment; only short segments starting with `.`/`%` are read. */
const isDotSegment = (raw: string, start: number, end: number): boolean => {
  const n = end - start
  if (n === 0 || n > 6) return false
  const first = raw.charCodeAt(start)
  if (first !== 46 && first !== 37) return false
  return dotSegments.has(raw.slice(start, end).toLowerCase())
}

/**
 * The index of the `?` in `raw` (or `raw.length` when there is none) when `raw` is an origin-form
 * target that keeps the rule; `-1` otherwise (another form, or refused: `parse` says which). The
 * common case of every request: one scan, no allocation.
 *
 * @category utils
 * @since 0.1.0
 */
export const originFormQueryIndex = (raw: string): number => {
  const n = raw.length
  if (n === 0 || raw.charCodeAt(0) !== 47 /* / */) return -1
  let segment = 1
  let i = 1
  for (; i < n; i++) {
    const c = raw.charCodeAt(i)
    if (c === 63 /* ? */) break
    if (c >= 128 || pathChar[c] === 0) return -1
    if (c === 47) {
      if (isDotSegment(raw, segment, i)) return -1
      segment = i + 1
    } else if (c === 37 /* % */) {
      if (i + 2 >= n || !isHex(raw.charCodeAt(i + 1)) || !isHex(raw.charCodeAt(i + 2))) return -1
      if (isForbiddenEscape(raw.charCodeAt(i + 1), raw.charCodeAt(i + 2) | 32)) return -1
      i += 2
    }
  }
  if (isDotSegment(raw, segment, i)) return -1
  for (let j = i + 1; j < n; j++) {
    const c = raw.charCodeAt(j)
    if (c >= 128 || queryChar[c] === 0) return -1
  }
  return i
}

/**
 * A request-target the rule admits: a path (and its query, `""` or `?…`), or `*`.
 *
 * @category models
 * @since 0.1.0
 */
export type Target =
  | { readonly _tag: "Path"; readonly path: string; readonly search: string }
  | { readonly _tag: "Asterisk" }

/**
 * A request-target the rule refuses: answered 400 with `description`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Refused {
  readonly _tag: "Refused"
  readonly description: string
}

const refused = (description: string): Refused => ({ _tag: "Refused", description })

/**
 * The request-target `raw` of a request with `method`, read by the rule in the module header.
 * `authorities` are the server's own `scheme://host[:port]` origins, lower-case (its public base
 * URL's and the address it listens on): the only ones an absolute-form target may name.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (raw: string, method: string, authorities: ReadonlyArray<string>): Target | Refused => {
  if (raw === "*")
    return method === "OPTIONS" ? { _tag: "Asterisk" } : refused("the request-target * is for OPTIONS only")
  const q = originFormQueryIndex(raw)
  if (q >= 0) return { _tag: "Path", path: raw.slice(0, q), search: q >= raw.length - 1 ? "" : raw.slice(q) }
  if (raw.charCodeAt(0) === 47) return refused("the request-target is not a valid path")
  const scheme = /^https?:\/\/[^/?#]*/i.exec(raw)
  if (scheme === null) return refused("the request-target is not a valid path")
  if (!authorities.includes(scheme[0].toLowerCase()))
    return refused("the request-target names another authority")
  const rest = raw.slice(scheme[0].length)
  const inner = rest === "" || rest.charCodeAt(0) === 63 ? `/${rest}` : rest
  const p = originFormQueryIndex(inner)
  if (p < 0) return refused("the request-target is not a valid path")
  return { _tag: "Path", path: inner.slice(0, p), search: p >= inner.length - 1 ? "" : inner.slice(p) }
}

/**
 * The methods the edge implements; any other is refused before a `Request` is built.
 *
 * @category constants
 * @since 0.1.0
 */
export const implementedMethods: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
])

/**
 * How the edge answers `method` on a route that allows `allow`: `undefined` = go on; otherwise
 * 405 with `Allow` — for `TRACE` and `CONNECT` (allowed nowhere, so a request is never echoed and
 * no tunnel is opened) and for methods the edge does not implement at all as well: a client error
 * the `Allow` field explains, never a 5xx.
 *
 * @see [RFC 9110 §15.5.6](https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6) (405 and `Allow`)
 * @category constructors
 * @since 0.1.0
 */
export const methodAnswer = (method: string, allow: ReadonlyArray<string>): 405 | undefined =>
  allow.includes(method) || (method === "HEAD" && allow.includes("GET")) ? undefined : 405

/**
 * The path and query of a request-target without a `URL` object, when the WHATWG URL parser would
 * hand them back unchanged (the common case: an origin-form target of plain characters).
 *
 * Adapter (Node, internal). `simpleQueryIndex` accepts only targets the parser leaves alone: an
 * absolute path (not `//`, which would name a host), no dot segment (`/.`, `%2e`), and only
 * characters none of the parser's percent-encode sets touches; anything else returns `-1` and the
 * caller parses with `URL` as before, so both give the same `pathname` and `search`.
 *
 * @since 0.1.0
 */

/** Characters kept as is in a path by the URL parser: unreserved, sub-delims, `:`, `@`, `%`, `/`. */
const pathSafe = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@%/")
  pathSafe[c.charCodeAt(0)] = 1
/** Kept as is in the query of a special-scheme URL: the path's set, `?`, minus `'` (encoded there). */
const querySafe = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@%/?")
  querySafe[c.charCodeAt(0)] = 1

/**
 * The index of the `?` in `raw` (or `raw.length` when there is none) when `new URL(raw, origin)`
 * would give `raw` back as `pathname` + `search` unchanged; `-1` otherwise.
 *
 * An empty query (`/mcp?`) is simple too: its `search` is `""`, as the caller reads it with
 * `searchOf`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const simpleQueryIndex = (raw: string): number => {
  const n = raw.length
  if (n === 0 || raw.charCodeAt(0) !== 47 /* / */ || (n > 1 && raw.charCodeAt(1) === 47)) return -1
  let i = 1
  let previous = 47
  for (; i < n; i++) {
    const c = raw.charCodeAt(i)
    if (c === 63 /* ? */) break
    if (c >= 128 || pathSafe[c] === 0) return -1
    // A dot segment (`/.`, `/..`) or a percent-encoded dot would be resolved or decoded.
    if (c === 46 /* . */ && previous === 47) return -1
    if (c === 37 /* % */ && i + 2 < n && raw.charCodeAt(i + 1) === 50 && (raw.charCodeAt(i + 2) | 32) === 101)
      return -1
    previous = c
  }
  const q = i
  for (i = q + 1; i < n; i++) {
    const c = raw.charCodeAt(i)
    if (c >= 128 || querySafe[c] === 0) return -1
  }
  return q
}

/**
 * The `search` of a simple target, as `URL#search` gives it (`""` for no or an empty query).
 *
 * @category constructors
 * @since 0.1.0
 */
export const searchOf = (raw: string, q: number): string => (q >= raw.length - 1 ? "" : raw.slice(q))

/**
 * A request path (`pathname`, `search`) mapped onto the target as `ReverseProxy.targetUrl` maps it,
 * as the path (and query) to send to the target's origin. Only for simple paths (see
 * `simpleQueryIndex`); the target's own path is the configured one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeTargetPath = (options: {
  readonly target: URL
  readonly resourcePath: string
}): ((pathname: string, search: string) => string) => {
  const prefix = options.resourcePath === "/" ? "" : options.resourcePath.replace(/\/+$/, "")
  const base = options.target.pathname.replace(/\/+$/, "")
  const whole = options.target.pathname
  return (pathname, search) => {
    const rest = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : pathname
    return `${rest === "" ? whole : `${base}${rest}`}${search}`
  }
}

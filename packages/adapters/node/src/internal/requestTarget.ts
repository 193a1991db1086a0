/**
 * The path and query of an admitted request-target without a `URL` object, when the WHATWG URL
 * parser would hand them back unchanged from `origin + target` (as `NodeServer.toRequest` builds
 * the Fetch path's URL).
 *
 * Adapter (Node, internal). The path rule is core's (`RequestTarget.originFormQueryIndex`: a path
 * of `pchar`s, no dot-segment, no bad or NUL percent-encoding, which the parser leaves alone);
 * here only the query is checked for characters the parser re-encodes (`'` in a special URL's
 * query): such a target is not simple and takes the Fetch path.
 *
 * @since 0.1.0
 */
import { RequestTarget } from "@oidc-proxy/core"

/** Kept as is in the query of a special-scheme URL: RFC 3986 `query` minus `'` (encoded there). */
const querySafe = new Uint8Array(128)
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@%/?")
  querySafe[c.charCodeAt(0)] = 1

/**
 * Whether the query of the admitted target `raw` (from its `?` at `q`) is one the URL parser
 * keeps as is.
 *
 * @category constructors
 * @since 0.1.0
 */
export const isSimpleQuery = (raw: string, q: number): boolean => {
  for (let i = q + 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c >= 128 || querySafe[c] === 0) return false
  }
  return true
}

/**
 * The index of the `?` in `raw` (or `raw.length`) when `raw` is admitted and simple; `-1`
 * otherwise.
 *
 * @category constructors
 * @since 0.1.0
 */
export const simpleQueryIndex = (raw: string): number => {
  const q = RequestTarget.originFormQueryIndex(raw)
  return q >= 0 && isSimpleQuery(raw, q) ? q : -1
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

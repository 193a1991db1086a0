/**
 * Redirect URI rules: what a client may register and how a request's redirect URI is matched.
 *
 * Pure core.
 * - Never `javascript:`, `data:`, `file:` or any scheme that is not https, loopback http, or a
 *   private-use scheme of a native app (reverse-DNS, RFC 8252 §7.1).
 * - No fragment, no userinfo, and the URI must already be in the canonical form the URL parser
 *   gives it (so `..` segments, backslashes and other ambiguities are refused, not normalised).
 * - Web clients: https, or http on a loopback host (local tools such as MCP Inspector).
 * - Matching is exact, except that a registered loopback http URI matches any port (RFC 8252 §7.3).
 *
 * @see [RFC 6749 §3.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.1.2)
 * @see [RFC 8252 §7](https://www.rfc-editor.org/rfc/rfc8252#section-7)
 * @see [OAuth 2.1 draft §2.3.1](https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-2.3.1)
 * @since 0.1.0
 */

/**
 * @category models
 * @since 0.1.0
 */
export type ApplicationType = "web" | "native"

const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"])
const forbiddenSchemes = new Set([
  "javascript:",
  "data:",
  "file:",
  "vbscript:",
  "about:",
  "blob:",
  "filesystem:",
])

/** A private-use scheme is reverse-DNS: it contains a dot (RFC 8252 §7.1). */
const isPrivateUseScheme = (protocol: string): boolean => /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(protocol)

const parse = (uri: string): URL | undefined => {
  try {
    return new URL(uri)
  } catch {
    return undefined
  }
}

/**
 * `true` for an http URI on a loopback host.
 *
 * @category utils
 * @since 0.1.0
 */
export const isLoopback = (url: URL): boolean => url.protocol === "http:" && loopbackHosts.has(url.hostname)

/**
 * Why `uri` may not be registered for a client of `applicationType`, or `undefined` when it may.
 *
 * @category utils
 * @since 0.1.0
 */
export const validate = (uri: string, applicationType: ApplicationType): string | undefined => {
  if (uri.length > 2000) return "is too long"
  const url = parse(uri)
  if (url === undefined) return "is not an absolute URI"
  if (forbiddenSchemes.has(url.protocol)) return `uses the forbidden scheme ${url.protocol}`
  if (url.hash !== "" || uri.includes("#")) return "must not contain a fragment"
  if (url.username !== "" || url.password !== "") return "must not contain userinfo"
  if (url.href !== uri && !(url.pathname === "/" && `${url.href.slice(0, -1)}` === uri)) {
    return "is not in canonical form (dot segments, escapes or case)"
  }
  if (url.protocol === "https:") return undefined
  if (isLoopback(url)) return undefined
  if (url.protocol === "http:") return "must use https (http is allowed only on loopback hosts)"
  if (applicationType === "native" && isPrivateUseScheme(url.protocol)) return undefined
  return applicationType === "native"
    ? "must use https, loopback http or a reverse-DNS private-use scheme"
    : "must use https (private-use schemes need application_type native)"
}

/**
 * `true` when `requested` matches one of the `registered` URIs: exactly, or for loopback http
 * with any port.
 *
 * @category utils
 * @since 0.1.0
 */
export const matches = (requested: string, registered: ReadonlyArray<string>): boolean => {
  if (registered.includes(requested)) return true
  const req = parse(requested)
  if (req === undefined || !isLoopback(req) || req.href !== requested) return false
  // Registration refuses userinfo; the any-port match must not let it back in.
  if (req.username !== "" || req.password !== "") return false
  return registered.some((r) => {
    const reg = parse(r)
    if (reg === undefined || !isLoopback(reg)) return false
    return (
      reg.hostname === req.hostname &&
      reg.pathname === req.pathname &&
      reg.search === req.search &&
      req.hash === ""
    )
  })
}

/**
 * Compiles allow-list patterns: `*` matches any run of characters except `/`, `**` any run at
 * all; everything else is literal.
 *
 * @category constructors
 * @since 0.1.0
 */
export const compilePatterns = (patterns: ReadonlyArray<string>): ((uri: string) => boolean) => {
  const regexes = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .split("**")
          .map((part) =>
            part
              .split("*")
              .map((lit) => lit.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
              .join("[^/]*"),
          )
          .join(".*")}$`,
      ),
  )
  return (uri) => regexes.length === 0 || regexes.some((r) => r.test(uri))
}

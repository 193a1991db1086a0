/**
 * A minimal RFC 6265 cookie jar keyed by host:port.
 *
 * Internal. Honors Path, Max-Age and Expires; ignores Domain (every cookie is host-only) and Secure (tests
 * run on plain http://127.0.0.1). Keying by port on purpose: see HeadlessBrowser's module doc.
 *
 * @since 0.1.0
 */

interface StoredCookie {
  readonly name: string
  readonly value: string
  readonly path: string
  /** Epoch milliseconds; undefined for a session cookie. */
  readonly expiresAt: number | undefined
}

/** Cookies per `host:port`. */
export class CookieJar {
  readonly #hosts = new Map<string, Map<string, StoredCookie>>()

  /** Stores the `Set-Cookie` header values of a response to `url`. */
  store(url: URL, setCookies: ReadonlyArray<string>): void {
    for (const header of setCookies) {
      const cookie = parseSetCookie(header, url)
      if (cookie === undefined) continue
      const cookies = this.#hosts.get(url.host) ?? new Map<string, StoredCookie>()
      this.#hosts.set(url.host, cookies)
      const key = `${cookie.name}\u0000${cookie.path}`
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now()) cookies.delete(key)
      else cookies.set(key, cookie)
    }
  }

  /** The `Cookie` header for a request to `url`, longest paths first; undefined when none applies. */
  header(url: URL): string | undefined {
    const now = Date.now()
    const matching = [...(this.#hosts.get(url.host)?.values() ?? [])]
      .filter((c) => (c.expiresAt === undefined || c.expiresAt > now) && pathMatches(url.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length)
    return matching.length === 0 ? undefined : matching.map((c) => `${c.name}=${c.value}`).join("; ")
  }

  /** The names of the cookies that would be sent to `url`, for assertions. */
  names(url: URL | string): ReadonlyArray<string> {
    const header = this.header(new URL(url))
    return header === undefined ? [] : header.split("; ").map((pair) => pair.slice(0, pair.indexOf("=")))
  }

  clear(): void {
    this.#hosts.clear()
  }
}

const parseSetCookie = (header: string, url: URL): StoredCookie | undefined => {
  const [pair = "", ...attributes] = header.split(";")
  const equals = pair.indexOf("=")
  if (equals <= 0) return undefined
  let path = defaultPath(url.pathname)
  let expiresAt: number | undefined
  let maxAgeSeen = false
  for (const attribute of attributes) {
    const [rawKey = "", ...rest] = attribute.split("=")
    const key = rawKey.trim().toLowerCase()
    const value = rest.join("=").trim()
    if (key === "path" && value.startsWith("/")) path = value
    else if (key === "max-age" && /^-?\d+$/.test(value)) {
      maxAgeSeen = true
      expiresAt = Date.now() + Number(value) * 1000
    } else if (key === "expires" && !maxAgeSeen) {
      const parsed = Date.parse(value)
      if (!Number.isNaN(parsed)) expiresAt = parsed
    }
  }
  return { name: pair.slice(0, equals).trim(), value: pair.slice(equals + 1).trim(), path, expiresAt }
}

// RFC 6265 §5.1.4
const defaultPath = (pathname: string): string => {
  const slash = pathname.lastIndexOf("/")
  return slash <= 0 ? "/" : pathname.slice(0, slash)
}

// RFC 6265 §5.1.4 path-match
const pathMatches = (requestPath: string, cookiePath: string): boolean =>
  requestPath === cookiePath ||
  (requestPath.startsWith(cookiePath) && (cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/"))

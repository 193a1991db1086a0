/**
 * CORS for MCP clients that run in a browser page on another origin: preflights answered without
 * a token, and `Access-Control-Allow-Origin` on every answer (401, 403 and errors included) of the
 * authorization server's public endpoints and of the protected resource.
 *
 * Adapter (Fetch API only). Two scopes: `public` (discovery documents, `/register`, `/token`,
 * `/revoke`, `/jwks`: any origin, `*`) and `resource` (the MCP endpoint: the configured origins, `*`
 * by default — a bearer token is not a cookie, so no credentialed mode is ever allowed). The
 * browser endpoints (`/authorize`, consent, callback) are navigations and get no CORS headers.
 *
 * @see [Fetch standard §3.2 (CORS protocol)](https://fetch.spec.whatwg.org/#http-cors-protocol)
 * @since 0.1.0
 */

/**
 * Which origins may call the protected resource from a browser: `*` or a list of exact origins
 * (`https://app.example`).
 *
 * @category models
 * @since 0.1.0
 */
export type Origins = "*" | ReadonlyArray<string>

/**
 * @category models
 * @since 0.1.0
 */
export type Scope = "public" | "resource"

/**
 * The request headers a browser MCP client sends that are not CORS-safelisted.
 *
 * @category constants
 * @since 0.1.0
 */
export const allowHeaders = "authorization, content-type, mcp-protocol-version, mcp-session-id, last-event-id"

/**
 * The response headers a browser MCP client must read on the resource: the challenge that starts
 * discovery and step-up, and the Streamable HTTP session id.
 *
 * @category constants
 * @since 0.1.0
 */
export const exposeHeaders = "WWW-Authenticate, Mcp-Session-Id"

/** The `Access-Control-Allow-Origin` for `origin` in `scope`, `undefined` when not allowed. */
const allowOrigin = (origins: Origins, scope: Scope, origin: string): string | undefined =>
  scope === "public" || origins === "*" ? "*" : origins.includes(origin) ? origin : undefined

/**
 * Whether `request` is a CORS preflight (an `OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`).
 *
 * @category utils
 * @since 0.1.0
 */
export const isPreflight = (request: Request): boolean =>
  request.method === "OPTIONS" &&
  request.headers.has("origin") &&
  request.headers.has("access-control-request-method")

/**
 * The answer to a preflight: 204 with the route's methods and the MCP headers when the origin is
 * allowed; 204 without CORS headers otherwise (the browser then refuses the call).
 *
 * @category constructors
 * @since 0.1.0
 */
export const preflight = (
  request: Request,
  origins: Origins,
  scope: Scope,
  methods: ReadonlyArray<string>,
): Response => {
  const allowed = allowOrigin(origins, scope, request.headers.get("origin") ?? "")
  const headers: Record<string, string> = { allow: [...methods, "OPTIONS"].join(", ") }
  if (allowed !== undefined) {
    headers["access-control-allow-origin"] = allowed
    headers["access-control-allow-methods"] = methods.join(", ")
    headers["access-control-allow-headers"] = allowHeaders
    headers["access-control-max-age"] = "600"
    if (allowed !== "*") headers["vary"] = "Origin"
  }
  return new Response(null, { status: 204, headers })
}

/**
 * `response` with the CORS headers of an actual (non-preflight) answer to a request from
 * `origin`; unchanged when the request named no origin or the origin is not allowed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const decorate = (
  response: Response,
  origin: string | null,
  origins: Origins,
  scope: Scope,
): Response => {
  if (origin === null) return response
  const allowed = allowOrigin(origins, scope, origin)
  if (allowed === undefined) return response
  const headers = new Headers(response.headers)
  headers.set("access-control-allow-origin", allowed)
  if (allowed !== "*") headers.append("vary", "Origin")
  if (scope === "resource") headers.set("access-control-expose-headers", exposeHeaders)
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers })
}

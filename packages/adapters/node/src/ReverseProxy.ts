/**
 * The gateway's reverse proxy: forwards an authorized request to the MCP server behind the proxy,
 * streaming both ways, with the caller's identity in `X-Auth-Request-*` headers.
 *
 * Adapter over the Fetch API (no Effect, no Node-specific API): it is `WebHandler`'s
 * `onAuthorized` hook. Headers a caller could forge (every name that folds to a reserved identity
 * name, see `isReservedIdentityName`) and the caller's `Authorization` are removed before the
 * identity is added, so the target can trust what it sees. The names and values are
 * `@oidc-proxy/http`'s `IdentityHeaders` rule (shared with Web `fetch` deployments): visible ASCII
 * values, the email only when the IdP says it is verified. An unreachable target is a 502 JSON answer.
 *
 * @see [RFC 9110 §7.6.1 (Connection, hop-by-hop fields)](https://www.rfc-editor.org/rfc/rfc9110#section-7.6.1)
 * @since 0.1.0
 */
import type { AccessToken, McpListFilter } from "@oidc-proxy/core"
import { IdentityHeaders } from "@oidc-proxy/http"
import * as ListFiltering from "./ListFiltering.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** URL of the MCP server; the resource path maps onto its path. */
  readonly target: URL
  /** The resource path on the proxy (the path part of the resource URL), e.g. `/mcp`. */
  readonly resourcePath: string
  /**
   * The downstream token of a request (the upstream access token, or an exchanged one), when one
   * is forwarded (opt-in); `undefined` = not forwarded. A `Response` is answered instead of
   * forwarding: the token could not be obtained, and the request never reaches the target without it.
   */
  readonly downstreamToken?:
    | ((token: AccessToken.AccessToken) => Promise<string | Response | undefined>)
    | undefined
  /** The header the downstream token travels in. Default `x-forwarded-access-token`. */
  readonly downstreamHeader?: DownstreamHeader | undefined
  /**
   * `true`: send `X-Auth-Request-Email` also when the verified claims do not say
   * `email_verified: true` (for IdPs that never send the claim). Default `false`.
   */
  readonly trustUnverifiedEmail?: boolean | undefined
  /** Called once per forwarded request with the time to the target's response headers. */
  readonly observe?: ((outcome: { readonly seconds: number; readonly ok: boolean }) => void) | undefined
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch | undefined
  /**
   * Called once for each 502 this forwarder answers, with why the target could not be reached:
   * the 502 is the gateway's own answer and leaves one error line (the caller logs it).
   */
  readonly onUnreachable?: ((failure: Unreachable) => void) | undefined
  /**
   * The caller's permission for MCP list filtering (`ListFiltering`): when it returns one, a POST's
   * body is read (bounded) and the answers to its `tools/list`, `resources/list`,
   * `resources/templates/list` and `prompts/list` requests are filtered by it; so is every list
   * result on the answer to a GET (a resumed stream may replay one). `undefined` (the default, or
   * as the answer for a caller): forwarded unread.
   */
  readonly listFilter?: ((token: AccessToken.AccessToken) => McpListFilter.Permission | undefined) | undefined
  /** Bounds of list filtering. */
  readonly listFilterLimits?: ListFiltering.Limits | undefined
}

/**
 * A forward that ended in a 502: the request's id, method and path (no query) and the cause.
 *
 * @category models
 * @since 0.1.0
 */
export interface Unreachable {
  readonly requestId: string | undefined
  readonly method: string
  readonly path: string
  readonly cause: unknown
}

/** Hop-by-hop fields (RFC 9110 §7.6.1) plus fields `fetch` manages itself. */
const hopByHop = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  // The gateway's server already answered `100-continue`; `fetch` refuses the field (a 502).
  "expect",
])

/** Encodings `fetch` decodes by itself: the body it hands over is already plain. */
const decodedByFetch = new Set(["gzip", "x-gzip", "deflate", "br", "zstd"])

/**
 * Whether `fetch` (undici) decoded a body with this `Content-Encoding`: it decodes a list of
 * codings only when it knows every one (`gzip, br` both; `identity, gzip` or `gzip, foo` none).
 */
const fetchDecodes = (encoding: string): boolean =>
  encoding
    .toLowerCase()
    .split(",")
    .every((coding) => decodedByFetch.has(coding.trim()))

/**
 * A header set as a plain record: lower-case names, values as `Headers` combines them (`, `), and
 * `set-cookie` (response only) as a list. What both the Fetch path and the Node fast path read.
 *
 * @category models
 * @since 0.1.0
 */
export type HeaderRecord = Record<string, string | ReadonlyArray<string>>

const single = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  value === undefined ? undefined : typeof value === "string" ? value : value.join(", ")

/** The fields `Connection` names as hop-by-hop for this message. */
const connectionListed = (connection: string | undefined): ReadonlySet<string> | undefined => {
  if (connection === undefined || connection === "") return undefined
  // The usual values name only fields that are hop-by-hop anyway.
  const lower = connection.toLowerCase()
  if (lower === "keep-alive" || lower === "close") return undefined
  return new Set(
    connection
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ""),
  )
}

const withoutHopByHopRecord = (source: HeaderRecord): Record<string, string | ReadonlyArray<string>> => {
  const out: Record<string, string | ReadonlyArray<string>> = {}
  const listed = connectionListed(single(source["connection"]))
  for (const name in source) {
    if (hopByHop.has(name) || listed?.has(name) === true) continue
    out[name] = source[name]!
  }
  return out
}

/** A `Headers` as a `HeaderRecord` (repeated fields combined, `set-cookie` kept as a list). */
const recordOf = (source: Headers): HeaderRecord => {
  const out: Record<string, string | ReadonlyArray<string>> = {}
  source.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value
  })
  const cookies = source.getSetCookie()
  if (cookies.length > 0) out["set-cookie"] = cookies
  return out
}

const headersOf = (record: HeaderRecord): Headers => {
  const headers = new Headers()
  for (const name in record) {
    const value = record[name]!
    if (typeof value === "string") headers.append(name, value)
    else for (const v of value) headers.append(name, v)
  }
  return headers
}

/**
 * Whether a caller's header `name` is one the gateway owns and drops (`IdentityHeaders`).
 *
 * @category predicates
 * @since 0.1.0
 */
export const isReservedIdentityName = IdentityHeaders.isReservedIdentityName

/**
 * An identity value as a header value, percent-encoded UTF-8 unless visible ASCII without `%`
 * (`IdentityHeaders`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const identityValue = IdentityHeaders.identityValue

/**
 * Where the downstream token goes: `X-Forwarded-Access-Token` (its value as is), or `Authorization`
 * (`Bearer <token>`). Both are names the caller's value of is always dropped.
 *
 * @category models
 * @since 0.1.0
 */
export type DownstreamHeader = "x-forwarded-access-token" | "authorization"

/**
 * What the gateway adds to a forwarded request besides the caller's headers.
 *
 * @category models
 * @since 0.1.0
 */
export interface Identity {
  /** The downstream token, sent in `downstreamHeader` when given. */
  readonly downstreamToken?: string | undefined
  /** Default `x-forwarded-access-token`. */
  readonly downstreamHeader?: DownstreamHeader | undefined
  /** See `Options.trustUnverifiedEmail`. */
  readonly trustUnverifiedEmail?: boolean | undefined
}

/**
 * The header rules of a forwarded request, over plain records (`incoming`: lower-case names):
 * the caller's fields minus hop-by-hop ones, `Authorization`, every reserved identity name the
 * caller sent (`isReservedIdentityName`) and the proxy's own `oidcp_` cookies; plus
 * `accept-encoding: identity` and the identity. The one implementation behind `forwardHeaders`
 * and the gateway's Node fast path.
 *
 * @category constructors
 * @since 0.1.0
 */
export const forwardHeaderRecord = (
  incoming: HeaderRecord,
  token: AccessToken.AccessToken,
  identity: Identity = {},
): Record<string, string> => {
  const headers: Record<string, string> = {}
  const listed = connectionListed(single(incoming["connection"]))
  for (const name in incoming) {
    if (hopByHop.has(name) || listed?.has(name) === true) continue
    if (name === "authorization" || isReservedIdentityName(name)) continue
    headers[name] = single(incoming[name])!
  }
  // The proxy's own cookies (consent binding, remembered consent) are none of the target's business.
  const cookie = headers["cookie"]
  if (cookie !== undefined) {
    const kept = cookie
      .split(";")
      .map((c) => c.trim())
      .filter((c) => c !== "" && !c.startsWith("oidcp_") && !c.startsWith("__Host-oidcp_"))
    if (kept.length === 0) delete headers["cookie"]
    else headers["cookie"] = kept.join("; ")
  }
  // The body is passed through unchanged; asking for no encoding keeps `fetch` from decoding it.
  headers["accept-encoding"] = "identity"
  Object.assign(headers, IdentityHeaders.of(token, identity))
  if (identity.downstreamToken !== undefined) {
    if (identity.downstreamHeader === "authorization")
      headers["authorization"] = `Bearer ${identity.downstreamToken}`
    else headers["x-forwarded-access-token"] = identity.downstreamToken
  }
  return headers
}

/**
 * The headers sent to the target: the caller's, minus hop-by-hop fields, `Authorization`, and
 * every reserved identity name the caller sent; plus the identity (`forwardHeaderRecord` over a
 * `Headers`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const forwardHeaders = (
  incoming: Headers,
  token: AccessToken.AccessToken,
  identity: Identity = {},
): Headers => headersOf(forwardHeaderRecord(recordOf(incoming), token, identity))

/**
 * The target's response headers as passed back to the caller: hop-by-hop fields removed;
 * `decoded` says the body was already decoded (by `fetch`), so its `content-encoding` goes too.
 *
 * @category constructors
 * @since 0.1.0
 */
export const responseHeaderRecord = (
  source: HeaderRecord,
  decoded: boolean,
): Record<string, string | ReadonlyArray<string>> => {
  const headers = withoutHopByHopRecord(source)
  if (decoded) {
    // A list of codings (`gzip, gzip`) was decoded whole too: its field kept, the caller would
    // decode a plain body again.
    const encoding = single(source["content-encoding"])
    if (encoding !== undefined && fetchDecodes(encoding)) delete headers["content-encoding"]
  }
  return headers
}

/**
 * The target URL of a request: the resource path prefix is replaced with the target's path; the
 * query is kept.
 *
 * @category constructors
 * @since 0.1.0
 */
export const targetUrl = (requestUrl: URL, options: Pick<Options, "target" | "resourcePath">): URL => {
  const prefix = options.resourcePath === "/" ? "" : options.resourcePath.replace(/\/+$/, "")
  const rest = requestUrl.pathname.startsWith(prefix)
    ? requestUrl.pathname.slice(prefix.length)
    : requestUrl.pathname
  const base = options.target.pathname.replace(/\/+$/, "")
  const url = new URL(options.target.href)
  url.pathname = rest === "" ? options.target.pathname : `${base}${rest}`
  url.search = requestUrl.search
  return url
}

/**
 * The body of the 502 answer when the target cannot be reached.
 *
 * @category constants
 * @since 0.1.0
 */
export const badGatewayBody = JSON.stringify({
  error: "bad_gateway",
  error_description: "The protected resource is unreachable",
})

const badGateway = (): Response =>
  new Response(badGatewayBody, {
    status: 502,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  })

const responseHeaders = (source: Headers): Headers => headersOf(responseHeaderRecord(recordOf(source), true))

/**
 * The `onAuthorized` hook: forwards `request` for `token` to the target.
 *
 * Never fails: a target that cannot be reached (refused, reset, DNS) is a 502 JSON response.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options) => {
  const doFetch = options.fetch ?? fetch
  return async (request: Request, token: AccessToken.AccessToken, requestId?: string): Promise<Response> => {
    const downstream =
      options.downstreamToken === undefined ? undefined : await options.downstreamToken(token)
    if (downstream instanceof Response) return downstream
    const url = targetUrl(new URL(request.url), options)
    // A GET's event stream may replay earlier answers (`Last-Event-ID`), list answers included.
    const allow =
      request.method === "POST" || request.method === "GET" ? options.listFilter?.(token) : undefined
    const classified =
      allow === undefined || request.method !== "POST"
        ? undefined
        : await ListFiltering.classify(request, options.listFilterLimits)
    if (classified instanceof Response) return classified
    const started = performance.now()
    let response: Response
    try {
      response = await doFetch(url, {
        method: request.method,
        headers: forwardHeaders(request.headers, token, {
          downstreamToken: downstream,
          downstreamHeader: options.downstreamHeader,
          trustUnverifiedEmail: options.trustUnverifiedEmail,
        }),
        // Streamed, not buffered: a Streamable HTTP request body may be large or long-lived.
        body: classified === undefined ? request.body : classified.body,
        signal: request.signal,
        redirect: "manual",
        duplex: "half",
      } as RequestInit)
    } catch (cause) {
      options.observe?.({ seconds: (performance.now() - started) / 1000, ok: false })
      // A caller gone (its request aborted) receives no answer: no error line for it.
      if (!request.signal.aborted)
        options.onUnreachable?.({
          requestId,
          method: request.method,
          path: new URL(request.url).pathname,
          cause,
        })
      return badGateway()
    }
    options.observe?.({ seconds: (performance.now() - started) / 1000, ok: true })
    // Every answer is filtered, not only those to list requests in this body: the server may send
    // another request's list answer on this stream (`McpListFilter`).
    const expected = allow === undefined ? undefined : (classified?.pending ?? "any")
    if (allow !== undefined && expected !== undefined)
      return ListFiltering.filterResponse(
        response,
        responseHeaders(response.headers),
        expected,
        allow,
        options.listFilterLimits,
      )
    // The body stream is handed over as is, so server-sent events reach the client as they come.
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers: responseHeaders(response.headers),
    })
  }
}

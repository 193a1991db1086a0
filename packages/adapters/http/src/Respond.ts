/**
 * Turning flow outcomes and failures into Web `Response`s — the one place where every error
 * becomes exactly one HTTP answer.
 *
 * Adapter. JSON endpoints answer RFC 6749 §5.2 / RFC 7591 §3.2.2 error bodies; browser endpoints
 * redirect to the client when the flow says the redirect URI is trusted, and show an error page
 * otherwise; store and IdP outages are 503 `temporarily_unavailable`. Bodies carry the error code
 * and a fixed description — never a token, a secret or a stack trace.
 *
 * @since 0.1.0
 */
import { Authorize, type OAuthError, Outcome } from "@oidc-proxy/core"
import * as Html from "./Html.ts"

const baseHeaders = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer" }

/**
 * @category constructors
 * @since 0.1.0
 */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...baseHeaders, ...headers },
  })

/**
 * @category constructors
 * @since 0.1.0
 */
export const html = (status: number, body: string, formTargets: ReadonlyArray<string> = []): Response =>
  new Response(body, { status, headers: Html.headers(formTargets) })

const serializeCookie = (cookie: Outcome.Cookie, secure: boolean): string =>
  [
    `${cookie.name}=${cookie.value}`,
    `Path=${cookie.path}`,
    `Max-Age=${cookie.maxAge}`,
    "HttpOnly",
    // Lax: the cookie must come back on the top-level redirect from the IdP to the callback.
    "SameSite=Lax",
    ...(secure ? ["Secure"] : []),
  ].join("; ")

/**
 * Renders a flow outcome.
 *
 * @category constructors
 * @since 0.1.0
 */
export const outcome = (o: Outcome.Outcome, options: { readonly secureCookies: boolean }): Response => {
  switch (o._tag) {
    case "Json":
      return json(o.status, o.body, { ...o.headers })
    case "Redirect": {
      const headers = new Headers({ location: o.location, "cache-control": "no-store", ...baseHeaders })
      for (const c of o.cookies) headers.append("set-cookie", serializeCookie(c, options.secureCookies))
      return new Response(null, { status: 302, headers })
    }
    case "ConsentPage": {
      const response = html(200, Html.consentPage(o.view), o.view.formTargets)
      for (const c of o.cookies)
        response.headers.append("set-cookie", serializeCookie(c, options.secureCookies))
      return response
    }
  }
}

/** Which kind of endpoint failed: decides between a JSON answer and a browser answer. */
export type Kind = "json" | "browser"

const jsonStatus = (error: OAuthError.OAuthErrorCode): number => {
  switch (error) {
    case "invalid_client":
    case "invalid_token":
      return 401
    case "access_denied":
      return 403
    case "temporarily_unavailable":
      return 503
    default:
      return 400
  }
}

/**
 * Renders an `OAuthFailure`.
 *
 * @category error handling
 * @since 0.1.0
 */
export const failure = (e: OAuthError.OAuthFailure, kind: Kind, issuer: string): Response => {
  if (e.retry_after !== undefined) {
    const retryAfter = { "retry-after": String(e.retry_after) }
    if (kind === "json") return json(429, { error: e.error, error_description: e.description }, retryAfter)
    const page = html(429, Html.errorPage(e.error, e.description))
    page.headers.set("retry-after", retryAfter["retry-after"])
    return page
  }
  if (kind === "browser") {
    if (e.redirect !== undefined) {
      return outcome(
        Outcome.redirect(
          Outcome.withParams(e.redirect.redirect_uri, {
            error: e.error,
            error_description: e.description,
            state: e.redirect.state,
            iss: issuer,
          }),
        ),
        { secureCookies: false },
      )
    }
    return html(e.error === "access_denied" ? 403 : 400, Html.errorPage(e.error, e.description))
  }
  const status = jsonStatus(e.error)
  const headers: Record<string, string> =
    e.error === "invalid_client" && e.basic === true
      ? { "www-authenticate": 'Basic realm="oidc-proxy"' }
      : e.error === "invalid_token"
        ? {
            "www-authenticate": Authorize.formatChallenge({
              error: "invalid_token",
              error_description: e.description,
            }),
          }
        : e.error === "temporarily_unavailable"
          ? { "retry-after": "5" }
          : {}
  return json(status, { error: e.error, error_description: e.description }, headers)
}

/**
 * The answer to a store or IdP outage: fail closed, 503, generic text.
 *
 * @category error handling
 * @since 0.1.0
 */
export const unavailable = (kind: Kind): Response =>
  kind === "browser"
    ? html(
        503,
        Html.errorPage("temporarily_unavailable", "The service is temporarily unavailable; please retry"),
      )
    : json(
        503,
        {
          error: "temporarily_unavailable",
          error_description: "The service is temporarily unavailable; retry later",
        },
        { "retry-after": "5" },
      )

/**
 * The answer to a defect (a bug): 500 with generic text. Never carries the cause.
 *
 * @category error handling
 * @since 0.1.0
 */
export const internal = (kind: Kind): Response =>
  kind === "browser"
    ? html(500, Html.errorPage("server_error", "An unexpected error occurred"))
    : json(500, { error: "server_error", error_description: "An unexpected error occurred" })

/**
 * The answer of a denied bearer check.
 *
 * @category error handling
 * @since 0.1.0
 */
export const deny = (d: Authorize.Deny, resourceMetadata: string): Response => {
  const challenge = Authorize.formatChallenge({ ...d.challenge, resource_metadata: resourceMetadata })
  return json(
    d.status,
    d.error === undefined
      ? { error_description: "Authentication required" }
      : { error: d.error, error_description: d.description },
    { "www-authenticate": challenge },
  )
}

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
import { BearerDecision, type OAuthError, Outcome } from "@oidc-proxy/core"
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
            "www-authenticate": BearerDecision.formatChallenge({
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
 * Every failure a route of the proxy can end with.
 *
 * @category models
 * @since 0.1.0
 */
export type Failure = OAuthError.OAuthFailure | OAuthError.StoreError | OAuthError.UpstreamError

/**
 * The one mapper from a failure to its HTTP answer. Exhaustive over `Failure`: a new error added
 * to a flow does not compile until it is answered here.
 *
 * @category error handling
 * @since 0.1.0
 */
export const fromFailure = (e: Failure, kind: Kind, issuer: string): Response => {
  switch (e._tag) {
    case "OAuthFailure":
      return failure(e, kind, issuer)
    case "StoreError":
    case "UpstreamError":
      return unavailable(kind)
  }
}

/**
 * The answer when the downstream token of a protected-resource request could not be obtained (the
 * request is not forwarded): an IdP outage is 503 `temporarily_unavailable` with `Retry-After`; an
 * upstream token the IdP no longer accepts (or none behind the proxy token) is 401 `invalid_token`
 * with its challenge, so the client signs in again; any other refusal is 403 `access_denied` naming
 * the IdP's error code (signing in again cannot help, so no challenge invites it); an unusable
 * answer is 502. Descriptions are fixed text plus at most the IdP's error code.
 *
 * @see [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)
 * @category error handling
 * @since 0.1.0
 */
export const downstreamTokenFailure = (e: OAuthError.DownstreamTokenError): Response => {
  switch (e.reason) {
    case "unavailable":
      return unavailable("json")
    case "subject_refused":
    case "no_subject": {
      const description = "The sign-in can no longer be used for the protected resource; sign in again"
      return json(
        401,
        { error: "invalid_token", error_description: description },
        {
          "www-authenticate": BearerDecision.formatChallenge({
            error: "invalid_token",
            error_description: description,
          }),
        },
      )
    }
    case "refused":
      return json(403, {
        error: "access_denied",
        error_description: `The identity provider refused the token exchange for the protected resource${e.error === undefined ? "" : ` (${e.error})`}`,
      })
    case "bad_response":
      return json(502, {
        error: "bad_gateway",
        error_description:
          "The token from the identity provider for the protected resource could not be used",
      })
  }
}

/** Runs of token-like characters (a JWT, a code, a secret) in a message: never logged. */
const tokenLike = /[A-Za-z0-9+/_~-]{20,}(?:\.[A-Za-z0-9+/_~=-]*)*|"[^"]*"|'[^']*'/g

const fieldOf = (value: unknown, name: string): string | undefined => {
  if (typeof value !== "object" || value === null) return undefined
  const v = (value as Record<string, unknown>)[name]
  return typeof v === "string" ? v : undefined
}

/**
 * What the log line of a 5xx says about its failure: `failure`, the tag (or error name) of the
 * outermost error, and `cause`, the chain down the `cause` links (at most four): each tagged error
 * by its tag and reason (never its description, which may quote a backend), each other error (a
 * defect) by its name and first message line, token-like runs and quoted text removed, cut at 200.
 *
 * @category error handling
 * @since 0.1.0
 */
export const describeFailure = (error: unknown): { readonly failure: string; readonly cause: string } => {
  const links: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const tagged = fieldOf(current, "_tag")
    const tag = tagged ?? fieldOf(current, "name") ?? typeof current
    const detail = fieldOf(current, "reason") ?? fieldOf(current, "operation")
    // A tagged error's description may quote a store or IdP backend: its tag and reason say enough.
    const message =
      tagged !== undefined
        ? ""
        : (fieldOf(current, "message") ?? "").split("\n")[0]!.slice(0, 200).replace(tokenLike, "…")
    links.push(`${tag}${detail === undefined ? "" : `(${detail})`}${message === "" ? "" : `: ${message}`}`)
    current = typeof current === "object" ? (current as { cause?: unknown }).cause : undefined
  }
  return { failure: fieldOf(error, "_tag") ?? fieldOf(error, "name") ?? "Defect", cause: links.join(" <- ") }
}

/**
 * The answer to a method a route does not take: 405 with its `Allow`.
 *
 * @see [RFC 9110 §15.5.6](https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6)
 * @category error handling
 * @since 0.1.0
 */
export const methodRefused = (allow: ReadonlyArray<string>): Response =>
  json(
    405,
    { error: "invalid_request", error_description: `use ${allow.join(" or ")}` },
    { allow: allow.join(", ") },
  )

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
export const deny = (d: BearerDecision.Deny, resourceMetadata: string): Response => {
  const challenge = BearerDecision.formatChallenge({ ...d.challenge, resource_metadata: resourceMetadata })
  return json(
    d.status,
    d.error === undefined
      ? { error_description: "Authentication required" }
      : { error: d.error, error_description: d.description },
    { "www-authenticate": challenge },
  )
}

/**
 * GitHub's REST API where the proxy needs more than OAuth 2.0: the primary verified email
 * (`GET /user/emails`), the user's organizations (`GET /user/orgs`), and revocation through the
 * application-token API (`DELETE /applications/{client_id}/token`), which GitHub has instead of
 * RFC 7009.
 *
 * Adapter helpers for `HttpTokenVerifier` (identity claims) and `TokenClient` (revocation); the
 * calls go through their callers' `send` (no redirect followed, at most 1 MiB read, bounded in
 * time). Every request carries a `User-Agent` (GitHub refuses requests without one) and GitHub's
 * JSON media type. A 401 is the token refused; any other non-success is an upstream failure.
 *
 * @see [GitHub: List email addresses for the authenticated user](https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user)
 * @see [GitHub: List organizations for the authenticated user](https://docs.github.com/en/rest/orgs/orgs#list-organizations-for-the-authenticated-user)
 * @see [GitHub: Delete an app token](https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-token)
 * @since 0.1.0
 */
import { OAuthError } from "@oidc-proxy/core"
import { Effect } from "effect"
import { HttpBody, HttpClientRequest } from "effect/http"
import type { Answer } from "./internal/send.ts"

/**
 * One exchange with the API, its failures already `UpstreamError`.
 *
 * @category models
 * @since 0.1.0
 */
export type Exchange = (
  request: HttpClientRequest.HttpClientRequest,
) => Effect.Effect<Answer, OAuthError.UpstreamError>

/** The headers every API request carries. */
const apiHeaders = { accept: "application/vnd.github+json", "user-agent": "oidc-proxy" }

/** Scopes that let a token read the user's email addresses. */
const emailScopes = new Set(["user:email", "user"])

/**
 * Organizations asked for per page of `GET /user/orgs` (GitHub's maximum).
 *
 * @category constants
 * @since 0.1.0
 */
export const maxOrganizations = 100

/**
 * Pages of `GET /user/orgs` read at most (`maxOrganizations` each: 1,000 organizations). A user
 * GitHub lists more for is marked `orgs_incomplete`, and an organization allow-list that none of
 * the ones read satisfies refuses the sign-in saying so (`AccessRules`), rather than deciding on a
 * list it knows is partial.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxOrganizationPages = 10

const refused = () =>
  new OAuthError.InvalidToken({
    reason: "upstream_verification",
    source: "upstream",
    description: "The upstream refused the token",
  })

const failure = (label: string, status: number) =>
  new OAuthError.UpstreamError({
    reason: status >= 500 || status === 429 ? "bad_response" : "rejected",
    retryable: status >= 500 || status === 429,
    description: `${label} answered HTTP ${status}`,
  })

const arrayOf = (label: string, answer: Answer) => {
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(answer.body))
    if (Array.isArray(json)) return Effect.succeed(json as ReadonlyArray<unknown>)
  } catch {
    // fall through
  }
  return Effect.fail(
    new OAuthError.UpstreamError({
      reason: "bad_response",
      retryable: false,
      description: `${label} did not answer with a JSON array`,
    }),
  )
}

/**
 * The `rel="next"` target of an RFC 8288 `Link` header, resolved against `base`; `undefined` when
 * there is none (or it is not a URL).
 */
const nextLink = (header: string | undefined, base: string): string | undefined => {
  if (header === undefined) return undefined
  for (const m of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]*)*)/g)) {
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(m[2] ?? "")
    const rels = (rel?.[1] ?? rel?.[2] ?? "").toLowerCase().split(/\s+/)
    if (!rels.includes("next")) continue
    try {
      return new URL(m[1] ?? "", base).href
    } catch {
      return undefined
    }
  }
  return undefined
}

/** One page at `url`: its JSON array and the next page's URL; `undefined` for a status in `absent`. */
const getPage = (exchange: Exchange, url: string, token: string, absent: ReadonlyArray<number> = []) =>
  Effect.gen(function* () {
    const answer = yield* exchange(
      HttpClientRequest.get(url, { headers: { ...apiHeaders, authorization: `Bearer ${token}` } }),
    )
    if (answer.status === 401) return yield* refused()
    if (absent.includes(answer.status)) return undefined
    const label = `GitHub ${new URL(url).pathname}`
    if (answer.status !== 200) return yield* failure(label, answer.status)
    const items = yield* arrayOf(label, answer)
    return { items, next: nextLink(answer.headers["link"], url) }
  })

/**
 * The logins of `GET /user/orgs`, following `Link: rel="next"` for at most `maxOrganizationPages`
 * pages, and only on the API's own origin (the bearer token goes with each request: a link to
 * another origin is an `UpstreamError`, never followed). `complete` is false when a next page was
 * left unread.
 */
const organizationLogins = (exchange: Exchange, api: string, token: string) =>
  Effect.gen(function* () {
    const origin = new URL(api).origin
    const logins: Array<string> = []
    let url = `${api}/user/orgs?per_page=${maxOrganizations}`
    for (let page = 1; ; page++) {
      const answer = yield* getPage(exchange, url, token)
      for (const o of answer?.items ?? [])
        if (isObject(o) && typeof o["login"] === "string") logins.push(o["login"])
      const next = answer?.next
      if (next === undefined) return { logins, complete: true }
      if (new URL(next).origin !== origin)
        return yield* new OAuthError.UpstreamError({
          reason: "bad_response",
          retryable: false,
          description: "GitHub /user/orgs: the next page is on another origin than the API; not followed",
        })
      if (page >= maxOrganizationPages) return { logins, complete: false }
      url = next
    }
  })

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null

/**
 * The primary address when GitHub says it is verified, from a `/user/emails` answer.
 *
 * @category utils
 * @since 0.1.0
 */
export const primaryVerifiedEmail = (entries: ReadonlyArray<unknown>): string | undefined => {
  const primary = entries.find((e) => isObject(e) && e["primary"] === true)
  return isObject(primary) && primary["verified"] === true && typeof primary["email"] === "string"
    ? primary["email"]
    : undefined
}

/**
 * The claims GitHub adds to a `/user` answer: `email` and `email_verified: true` for the primary
 * verified address when `scopes` allow reading it or are `undefined` (a GitHub App's token, whose
 * access is its permissions; a 403/404 there means no email, not an outage), and `orgs` (logins,
 * every page up to `maxOrganizationPages`; `orgs_incomplete: true` when more were left) when
 * `organizations` is set. Fails with `InvalidToken` when GitHub refuses the token, `UpstreamError`
 * otherwise.
 *
 * @category constructors
 * @since 0.1.0
 */
export const identity = (
  exchange: Exchange,
  api: string,
  token: string,
  scopes: ReadonlyArray<string> | undefined,
  organizations: boolean,
): Effect.Effect<Record<string, unknown>, OAuthError.InvalidToken | OAuthError.UpstreamError> =>
  Effect.gen(function* () {
    const claims: Record<string, unknown> = {}
    // A GitHub App's token has permissions, not scopes (`undefined` here): it may read emails.
    if (scopes === undefined || scopes.some((s) => emailScopes.has(s))) {
      const entries = yield* getPage(exchange, `${api}/user/emails`, token, [403, 404])
      const email = entries === undefined ? undefined : primaryVerifiedEmail(entries.items)
      if (email !== undefined) Object.assign(claims, { email, email_verified: true })
    }
    if (organizations) {
      const { logins, complete } = yield* organizationLogins(exchange, api, token)
      claims["orgs"] = logins
      if (!complete) claims["orgs_incomplete"] = true
    }
    return claims
  })

/**
 * `DELETE {api}/applications/{client_id}/token` with the client's Basic credentials and the token
 * in a JSON body. 204 is revoked; 404 is a token GitHub no longer knows, which RFC 7009 §2.2 also
 * counts as revoked.
 *
 * @category constructors
 * @since 0.1.0
 */
export const revoke = (
  exchange: Exchange,
  endpoint: string,
  authorization: string,
  accessToken: string,
): Effect.Effect<void, OAuthError.UpstreamError> =>
  Effect.gen(function* () {
    const answer = yield* exchange(
      HttpClientRequest.delete(endpoint, {
        headers: { ...apiHeaders, authorization },
        body: HttpBody.text(JSON.stringify({ access_token: accessToken }), "application/json"),
      }),
    )
    if (answer.status !== 204 && answer.status !== 404)
      return yield* failure("GitHub application-token API", answer.status)
  })

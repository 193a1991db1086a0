/**
 * Opaque upstream access tokens verified over HTTP: RFC 7662 introspection, or a GET of the
 * userinfo / provider API endpoint with the token as bearer (GitHub `GET /user`, Google userinfo).
 *
 * Adapter for core's `UpstreamVerifier` port: the HTTP call is the `Lookup` of core's
 * `NetworkVerifier` (which caches by a keyed hash of the token and coalesces concurrent checks).
 * Every call goes through `send` (no redirect followed, at most 1 MiB read) and is bounded by
 * `timeoutDuration`. Introspection authenticates the client as at the token endpoint (Basic or
 * form fields). What the provider says maps as follows: an answer (`active` true or not) goes to
 * core's rules; a userinfo 401 is `InvalidToken`; an unreachable provider, a timeout, a 5xx, a 429,
 * another 4xx (e.g. the client's own credentials refused, a rate limit answered 403) or a body that
 * is not a JSON object is `UpstreamError` — a 503 with `Retry-After`, never an acceptance and
 * never a 401. With `upstream.github_api_url` set, a `/user` answer is completed by
 * `GitHubApi.identity` (primary verified email, organizations).
 *
 * @see [RFC 7662 §2.1](https://www.rfc-editor.org/rfc/rfc7662#section-2.1)
 * @see [RFC 6750 §2.1](https://www.rfc-editor.org/rfc/rfc6750#section-2.1)
 * @since 0.1.0
 */
import {
  NetworkVerifier,
  OAuthError,
  ProxyConfig,
  type StorageKeys,
  Upstream,
  UpstreamVerifier,
} from "@oidc-proxy/core"
import { Clock, Duration, Effect, Layer, Redacted } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import * as GitHubApi from "./GitHubApi.ts"
import { basicAuthorization } from "./internal/clientSecretBasic.ts"
import { type Answer, send } from "./internal/send.ts"
import type { AuthMethod } from "./TokenClient.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly verification: "introspection" | "userinfo"
  /** The proxy's client id at the IdP (introspection client authentication). */
  readonly client_id: string
  readonly client_secret: Redacted.Redacted<string>
  /** Default `client_secret_basic`. */
  readonly token_endpoint_auth_method?: AuthMethod | undefined
  /** Time limit for one call. Default 5 seconds. */
  readonly timeoutDuration?: Duration.Input | undefined
}

const upstreamError = (reason: OAuthError.UpstreamError["reason"], retryable: boolean, description: string) =>
  new OAuthError.UpstreamError({ reason, retryable, description })

/** The JSON object an answer carries, or the `UpstreamError` it is. */
const objectOf = (label: string, answer: Answer): Record<string, unknown> | OAuthError.UpstreamError => {
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(answer.body))
    if (typeof json === "object" && json !== null && !Array.isArray(json))
      return json as Record<string, unknown>
  } catch {
    // fall through
  }
  return upstreamError("bad_response", false, `${label} did not answer with a JSON object`)
}

const statusError = (label: string, status: number) =>
  status >= 500 || status === 429
    ? upstreamError("bad_response", true, `${label} answered HTTP ${status}`)
    : upstreamError("rejected", false, `${label} refused the request (HTTP ${status})`)

/**
 * The `UpstreamVerifier` over the IdP's introspection or userinfo endpoint (from `UpstreamClient`'s
 * validated metadata). The layer dies when the endpoint is missing: `UpstreamHttp.layer`, given the
 * same `verification`, already refused to start without it.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options,
): Layer.Layer<
  UpstreamVerifier.UpstreamVerifier,
  never,
  Upstream.UpstreamClient | HttpClient.HttpClient | ProxyConfig.Settings | StorageKeys.StorageKeys
> =>
  Layer.effect(
    UpstreamVerifier.UpstreamVerifier,
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const { metadata } = yield* Upstream.UpstreamClient
      const settings = yield* ProxyConfig.Settings
      const rules: NetworkVerifier.Rules = {
        subjectClaim: settings.upstream.subject_claim,
        tolerance: settings.clock_tolerance_seconds,
      }
      const timeout = options.timeoutDuration ?? "5 seconds"
      const field = options.verification === "introspection" ? "introspection_endpoint" : "userinfo_endpoint"
      const endpoint = metadata[field]
      if (typeof endpoint !== "string") return yield* Effect.die(new Error(`the upstream has no ${field}`))
      const label = `${field} ${endpoint}`
      const exchange = (request: HttpClientRequest.HttpClientRequest) =>
        send(client, request).pipe(
          Effect.mapError((failure) =>
            upstreamError(
              failure.reason === "unreachable" ? "unreachable" : "bad_response",
              failure.reason === "unreachable",
              failure.description,
            ),
          ),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(
                upstreamError(
                  "timeout",
                  true,
                  `${label} did not answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`,
                ),
              ),
          }),
        )
      const lookup: NetworkVerifier.Lookup =
        options.verification === "introspection"
          ? introspect(exchange, endpoint, label, options, rules)
          : userinfo(exchange, endpoint, label, settings.upstream.scopes_header, rules, githubOf(settings))
      return UpstreamVerifier.UpstreamVerifier.of(yield* NetworkVerifier.make(lookup))
    }),
  )

/** What the GitHub API adds to a `/user` answer, when the upstream is GitHub. */
interface GitHub {
  readonly api: string
  readonly organizations: boolean
}

const githubOf = (settings: ProxyConfig.ProxyConfig): GitHub | undefined =>
  settings.upstream.github_api_url === undefined
    ? undefined
    : {
        api: settings.upstream.github_api_url.replace(/\/+$/, ""),
        organizations: settings.access.organizations.length > 0,
      }

type Exchange = (
  request: HttpClientRequest.HttpClientRequest,
) => Effect.Effect<Answer, OAuthError.UpstreamError>

const introspect =
  (
    exchange: Exchange,
    endpoint: string,
    label: string,
    options: Options,
    rules: NetworkVerifier.Rules,
  ): NetworkVerifier.Lookup =>
  (token, expect) => {
    const secret = Redacted.value(options.client_secret)
    const post = options.token_endpoint_auth_method === "client_secret_post"
    const form = new URLSearchParams({ token, token_type_hint: "access_token" })
    if (post) {
      form.set("client_id", options.client_id)
      form.set("client_secret", secret)
    }
    const request = HttpClientRequest.post(endpoint, {
      headers: {
        accept: "application/json",
        ...(post ? {} : { authorization: basicAuthorization(options.client_id, secret) }),
      },
      body: HttpBody.text(form.toString(), "application/x-www-form-urlencoded"),
    })
    return Effect.gen(function* () {
      const answer = yield* exchange(request)
      const now = yield* Clock.currentTimeMillis
      if (answer.status !== 200) return yield* statusError(label, answer.status)
      const body = objectOf(label, answer)
      if (body instanceof OAuthError.UpstreamError) return yield* body
      const claims = NetworkVerifier.fromIntrospection(body, expect, rules, Math.floor(now / 1000))
      return claims instanceof OAuthError.InvalidToken ? yield* claims : claims
    })
  }

const userinfo =
  (
    exchange: Exchange,
    endpoint: string,
    label: string,
    scopesHeader: string | undefined,
    rules: NetworkVerifier.Rules,
    github: GitHub | undefined,
  ): NetworkVerifier.Lookup =>
  (token, expect) => {
    // GitHub's API refuses requests without a User-Agent.
    const request = HttpClientRequest.get(endpoint, {
      headers: { accept: "application/json", authorization: `Bearer ${token}`, "user-agent": "oidc-proxy" },
    })
    return Effect.gen(function* () {
      const answer = yield* exchange(request)
      if (answer.status === 401)
        return yield* new OAuthError.InvalidToken({
          reason: "upstream_verification",
          source: "upstream",
          description: "The upstream refused the token",
        })
      if (answer.status !== 200) return yield* statusError(label, answer.status)
      const body = objectOf(label, answer)
      if (body instanceof OAuthError.UpstreamError) return yield* body
      const header = scopesHeader === undefined ? undefined : answer.headers[scopesHeader.toLowerCase()]
      const reported = NetworkVerifier.reportedScopes(header)
      // GitHub App tokens report no scopes (they have permissions): the scopes recorded at sign-in.
      const scopes = github !== undefined && reported === "" ? undefined : reported
      const completed = github === undefined ? body : yield* withGitHub(exchange, github, token, body, scopes)
      const claims = NetworkVerifier.fromUserinfo(completed, scopes, expect, rules)
      return claims instanceof OAuthError.InvalidToken ? yield* claims : claims
    })
  }

/** GitHub's `/user` answer without its public (unverified) email, completed by the API. */
const withGitHub = (
  exchange: Exchange,
  github: GitHub,
  token: string,
  body: Record<string, unknown>,
  scopes: string | undefined,
) => {
  const { email: _email, email_verified: _verified, orgs: _orgs, orgs_incomplete: _partial, ...rest } = body
  return Effect.map(
    GitHubApi.identity(exchange, github.api, token, scopes?.split(" "), github.organizations),
    (extra) => ({ ...rest, ...extra }),
  )
}

/**
 * `/authorize` and the consent form: the first browser leg of a sign-in (the upstream callback,
 * the second, is `CallbackEndpoint`). When the page is shown, what it shows and what is remembered
 * are `Consent`'s rules.
 *
 * Effect over ports (Settings, TokenStore, StorageKeys, Entropy, UpstreamClient,
 * UpstreamVerifier, Clock).
 * - Every error at `/authorize` is answered with an error page and never a redirect: the user has
 *   not approved the client yet (RFC 9700 §4.11.2). Once they have (the consent form, the
 *   callback), errors go to the client's redirect URI with `error`, `state` and `iss`.
 * - The transaction id is the upstream `state`: single use (taken atomically at the callback) and
 *   bound to the browser (see `Browser`).
 * - The proxy uses its own PKCE pair towards the upstream.
 *
 * @see [RFC 6749 §4.1](https://www.rfc-editor.org/rfc/rfc6749#section-4.1)
 * @see [RFC 9207](https://www.rfc-editor.org/rfc/rfc9207) (`iss` in authorization responses)
 * @see [RFC 8707 §2](https://www.rfc-editor.org/rfc/rfc8707#section-2) (`resource`)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import * as ClientLookup from "../ClientLookup.ts"
import * as Endpoints from "../Endpoints.ts"
import { Entropy } from "../Entropy.ts"
import type { Transaction } from "../FlowRecords.ts"
import { constantTimeEqual } from "../internal/constantTime.ts"
import { type OAuthFailure, oauth, type StoreError } from "../OAuthError.ts"
import * as OfflineAccess from "../OfflineAccess.ts"
import * as Pkce from "../Pkce.ts"
import { advertisedScopes, type ProxyConfig, Settings } from "../ProxyConfig.ts"
import * as Quota from "../Quota.ts"
import * as RedirectUri from "../RedirectUri.ts"
import type { Client } from "../RegisteredClient.ts"
import * as Scopes from "../Scopes.ts"
import type { StorageKeys } from "../StorageKeys.ts"
import { TokenStore } from "../TokenStore.ts"
import { UpstreamClient } from "../Upstream.ts"
import * as Browser from "./Browser.ts"
import * as Consent from "./Consent.ts"
import * as Outcome from "./Outcome.ts"

/**
 * Request parameters (query or form), one value each; repeated parameters are rejected at the
 * edge.
 *
 * @category models
 * @since 0.1.0
 */
export type Params = Readonly<Record<string, string | undefined>>

/**
 * @category models
 * @since 0.1.0
 */
export type Requirements = Settings | TokenStore | StorageKeys | UpstreamClient

type Failure = OAuthFailure | StoreError

const errorPage = (error: "invalid_request" | "access_denied", description: string) =>
  oauth(error, description)

/** Resolves the redirect URI of a request; failures here must not redirect. */
const resolveRedirectUri = (client: Client, requested: string | undefined): string | OAuthFailure => {
  if (requested === undefined) {
    return client.redirect_uris.length === 1
      ? client.redirect_uris[0]!
      : errorPage("invalid_request", "redirect_uri is required: the client registered several")
  }
  return RedirectUri.matches(requested, client.redirect_uris)
    ? requested
    : errorPage("invalid_request", "redirect_uri is not registered for this client")
}

/**
 * Longest `state` and `scope` accepted at `/authorize`, in characters: both are stored with the
 * pending transaction, so their size bounds what one request can make the server keep.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxParameterLength = { state: 1024, scope: 2000 } as const

/** Which stored parameter is too long, as an error description. */
const oversizedParameter = (params: Params): string | undefined => {
  for (const name of ["state", "scope"] as const) {
    const value = params[name]
    if (value !== undefined && value.length > maxParameterLength[name])
      return `${name} must be at most ${maxParameterLength[name]} characters`
  }
  return undefined
}

/** The scopes a request may be granted, or why not. */
const grantableScopes = (
  config: ProxyConfig,
  client: Client,
  requested: Scopes.ScopeSet,
): Scopes.ScopeSet | string => {
  const asked =
    requested.length > 0
      ? requested
      : client.scope !== undefined
        ? Scopes.parse(client.scope)
        : advertisedScopes(config)
  // offline_access asks for a refresh token, not for access: always accepted (MCP SEP-2207); a
  // refresh token is still issued only to clients allowed the refresh_token grant.
  const checked = OfflineAccess.without(asked)
  if (config.scopes_supported.length > 0) {
    const outside = Scopes.difference(checked, advertisedScopes(config))
    if (outside.length > 0) return `scope not offered by this server: ${Scopes.format(outside).slice(0, 200)}`
  }
  if (client.scope !== undefined) {
    // A scope the gateway's policy challenges for may be asked beyond the registration (step-up).
    const outside = Scopes.difference(
      Scopes.difference(checked, Scopes.parse(client.scope)),
      config.step_up_scopes,
    )
    if (outside.length > 0)
      return `scope not registered for this client: ${Scopes.format(outside).slice(0, 200)}`
  }
  return asked
}

/**
 * Scopes asked of the upstream: the configured ones plus the client's. `offline_access` is asked
 * whenever the client may use refresh tokens — the proxy needs an upstream refresh token to keep
 * such a session alive, and clients are never challenged for `offline_access` (MCP SEP-2207) — and
 * only when the upstream advertises it.
 */
const upstreamScopes = (
  config: ProxyConfig,
  upstream: UpstreamClient["Service"],
  client: Client,
  granted: Scopes.ScopeSet,
): Scopes.ScopeSet =>
  OfflineAccess.forUpstream(
    Scopes.union(config.upstream.scopes, granted),
    client.grant_types.includes("refresh_token"),
    upstream.metadata.scopes_supported,
  )

/** The upstream authorization URL for a transaction. */
const upstreamAuthorizationUrl = (transactionId: string, transaction: Transaction) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const upstream = yield* UpstreamClient
    const url = new URL(upstream.metadata.authorization_endpoint)
    for (const [k, v] of Object.entries(config.upstream.extra_authorize_params)) url.searchParams.set(k, v)
    url.searchParams.set("response_type", "code")
    url.searchParams.set("client_id", config.upstream.client_id)
    url.searchParams.set("redirect_uri", Endpoints.make(config).callback)
    url.searchParams.set("scope", Scopes.format(transaction.upstream_scope))
    url.searchParams.set("state", transactionId)
    url.searchParams.set("code_challenge", yield* Pkce.challengeOf(transaction.upstream_code_verifier))
    url.searchParams.set("code_challenge_method", "S256")
    if (transaction.upstream_nonce !== undefined) url.searchParams.set("nonce", transaction.upstream_nonce)
    return url.href
  })

/** The answer for a transaction the user has consented to: off to the upstream. */
const toUpstream = (
  transactionId: string,
  transaction: Transaction,
  cookies: ReadonlyArray<Outcome.Cookie>,
) => Effect.map(upstreamAuthorizationUrl(transactionId, transaction), (url) => Outcome.redirect(url, cookies))

/**
 * `GET /authorize`. `source` is the caller's address, when the runtime knows it: a request that
 * would store a transaction counts against the source's and the client's quotas first
 * (`Quota.admitAuthorization`; `temporarily_unavailable`, 429, past them).
 *
 * @category constructors
 * @since 0.1.0
 */
export const authorize = (
  params: Params,
  cookies: Readonly<Record<string, string>>,
  source?: string,
): Effect.Effect<Outcome.Outcome, Failure, Requirements> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const clientId = params["client_id"]
    if (clientId === undefined || clientId === "")
      return yield* errorPage("invalid_request", "client_id is required")
    // A client whose metadata document cannot be used gets an error page, never a redirect.
    const client = yield* ClientLookup.find(clientId).pipe(
      Effect.catchTag("OAuthFailure", (e) => Effect.fail(errorPage("invalid_request", e.description))),
    )
    if (Option.isNone(client)) return yield* errorPage("invalid_request", "Unknown client_id")
    const redirectUri = resolveRedirectUri(client.value, params["redirect_uri"])
    if (typeof redirectUri !== "string") return yield* redirectUri

    const state = params["state"]
    const tooLong = oversizedParameter(params)
    // The state is not echoed: it is the oversized value; and before consent no error redirects.
    if (tooLong !== undefined) return yield* Effect.fail(oauth("invalid_request", tooLong))
    // RFC 9700 §4.11.2: before the user has approved this client, an error is the gateway's own
    // page, never a redirect — anyone can register (or, by a metadata document, name) a redirect
    // URI, so redirecting here would make the gateway an open redirector.
    const deny = (error: Parameters<typeof oauth>[0], description: string) =>
      Effect.fail(oauth(error, description))

    if (params["response_type"] !== "code")
      return yield* deny("unsupported_response_type", "response_type must be code")
    const challenge = params["code_challenge"]
    if (challenge === undefined)
      return yield* deny("invalid_request", "code_challenge is required (PKCE with S256)")
    if (params["code_challenge_method"] !== "S256") {
      return yield* deny("invalid_request", "code_challenge_method must be S256")
    }
    if (!Pkce.isWellFormed(challenge)) return yield* deny("invalid_request", "code_challenge is malformed")
    const resource = params["resource"]
    if (resource !== undefined && resource !== config.resource) {
      return yield* deny("invalid_target", "resource does not name this server's protected resource")
    }
    const scope = grantableScopes(config, client.value, Scopes.parse(params["scope"]))
    if (typeof scope === "string") return yield* deny("invalid_scope", scope)

    const entropy = yield* Entropy
    const transactionId = yield* entropy.token(32)
    const browser = yield* Browser.browser(cookies, config)
    const binding = yield* Browser.bind(transactionId, browser.id, yield* entropy.token(32), config)
    const cookiesOut = [browser.cookie, binding.cookie]
    const upstream = yield* UpstreamClient
    const upstreamScope = upstreamScopes(config, upstream, client.value, scope)
    const transaction: Transaction = {
      client_id: client.value.client_id,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      ...(state === undefined ? {} : { state }),
      scope,
      upstream_scope: upstreamScope,
      resource: config.resource,
      upstream_code_verifier: yield* entropy.token(32),
      // OpenID Connect makes the nonce optional in the code flow, but some providers (glewlwyd)
      // refuse an openid request without one; the code exchange checks the id_token carries it.
      ...(upstreamScope.includes("openid") ? { upstream_nonce: yield* entropy.token(32) } : {}),
      binding_hash: binding.hash,
      csrf: yield* entropy.token(32),
      consented: false,
      created_at: Math.floor((yield* Clock.currentTimeMillis) / 1000),
    }

    yield* Quota.admitAuthorization(source, client.value.client_id)
    // Only a browser id the server minted on an earlier request can carry a remembered consent.
    const given = yield* Consent.isGiven(
      client.value.client_id,
      browser.minted ? undefined : browser.id,
      scope,
    )
    const stored = given ? { ...transaction, consented: true } : transaction
    yield* store.transactions.set(transactionId, stored, `${config.ttl.transaction} seconds`)
    if (given) return yield* toUpstream(transactionId, stored, cookiesOut)
    return yield* Consent.page(config, client.value, transactionId, stored, cookiesOut)
  })

/**
 * `POST /consent`: the user's decision on the consent page.
 *
 * @category constructors
 * @since 0.1.0
 */
export const consent = (
  form: Params,
  cookies: Readonly<Record<string, string>>,
): Effect.Effect<Outcome.Outcome, Failure, Requirements> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const transactionId = form["transaction"]
    if (transactionId === undefined || transactionId === "") {
      return yield* errorPage("invalid_request", "The consent form is incomplete")
    }
    const found = yield* store.transactions.get(transactionId)
    if (Option.isNone(found))
      return yield* errorPage("invalid_request", "This sign-in expired or was already completed")
    const transaction = found.value
    if (!constantTimeEqual(form["csrf"] ?? "", transaction.csrf)) {
      return yield* errorPage("access_denied", "The consent form's CSRF token is invalid")
    }
    if (!(yield* Browser.isBound(transactionId, transaction, cookies))) {
      return yield* errorPage("access_denied", "This sign-in was started in another browser")
    }
    const iss = Endpoints.make(config).issuer
    if (form["decision"] !== "approve") {
      yield* store.transactions.take(transactionId)
      return Outcome.redirect(
        Outcome.withParams(transaction.redirect_uri, {
          error: "access_denied",
          error_description: "The user denied the request",
          state: transaction.state,
          iss,
        }),
        [yield* Browser.unbind(transactionId, config)],
      )
    }
    const consented = { ...transaction, consented: true }
    yield* store.transactions.set(transactionId, consented, `${config.ttl.transaction} seconds`)
    // The binding check above proved the browser id is the server-minted one of this sign-in.
    yield* Consent.remember(transaction, yield* Browser.verifiedBrowser(cookies, config))
    return yield* toUpstream(transactionId, consented, [])
  })

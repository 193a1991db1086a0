/**
 * The upstream token endpoint as one confidential client: code exchange, refresh and revocation,
 * implementing core's `UpstreamClient` port.
 *
 * Adapter. Protocol processing is oauth4webapi's (request building, client authentication,
 * response and error parsing, id_token claim checks); the transport is effect's `HttpClient`,
 * handed to oauth4webapi as its `customFetch`, which follows no redirect and reads at most
 * `maxResponseBytes` of an answer. Every call is bounded by `timeoutDuration`, and every
 * failure is translated to `UpstreamError` in one place (`toUpstreamError`). Concurrent refreshes
 * of the same refresh token share one upstream request. The client secret stays `Redacted` until
 * oauth4webapi writes it into the request; it is never logged.
 *
 * Provider quirks at the token endpoint (form-encoded answers, errors with HTTP 200, comma-separated
 * scopes) are rewritten into the standard shape first (`internal/tokenAnswer.ts`); oauth4webapi
 * sends `Accept: application/json` and accepts `expires_in` absent or as a numeric string.
 *
 * id_tokens: oauth4webapi checks the claims of an id_token in a token response (`iss`, `aud`/`azp`,
 * `exp`, `iat`, `sub`, the `alg` against the IdP's advertised algorithms) but not its signature; the
 * proxy verifies the signature later with its JWKS. A response whose `access_token` is the same JWT
 * as its `id_token` (SAP CIS) passes like any other. Nonce: when the caller passes the `nonce` it
 * sent in the authorization request, the id_token must be present and carry exactly it; without
 * one, an id_token carrying any `nonce` is refused (it was not minted for this exchange). PKCE
 * (the proxy's `code_verifier`) already binds the code to this exchange, so the nonce is optional.
 *
 * @see [RFC 6749 §4.1.3, §6, §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3)
 * Revocation is RFC 7009 at `revocation_endpoint`, or with `revocation: "github"` GitHub's
 * application-token API at that endpoint (`GitHubApi.revoke`), which takes only access tokens: the
 * session's access token is revoked whatever `token` the caller names.
 *
 * @see [RFC 7009 §2](https://www.rfc-editor.org/rfc/rfc7009#section-2)
 * @see [OpenID Connect Core §3.1.3.7](https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation)
 * @since 0.1.0
 */
import { OAuthError, ProxyConfig, TenantIssuer, Upstream } from "@oidc-proxy/core"
import { Clock, Deferred, Duration, Effect, type Exit, Layer, Redacted, Schema, type Scope } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import * as oauth from "oauth4webapi"
import * as GitHubApi from "./GitHubApi.ts"
import { clientSecretBasic, plainBasicAuthorization } from "./internal/clientSecretBasic.ts"
import { type Answer, type SendFailure, send } from "./internal/send.ts"
import * as TokenAnswer from "./internal/tokenAnswer.ts"

/**
 * Client authentication at the token and revocation endpoints.
 *
 * @see [RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)
 * @category models
 * @since 0.1.0
 */
export type AuthMethod = "client_secret_basic" | "client_secret_post"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The validated upstream metadata (from `Discovery`). */
  readonly metadata: Upstream.UpstreamMetadata
  /** The proxy's client id at the IdP. */
  readonly client_id: string
  /** The proxy's client secret at the IdP. */
  readonly client_secret: Redacted.Redacted<string>
  /** How the secret is sent. Default `client_secret_basic` (RFC 6749 §2.3.1 prefers it). */
  readonly token_endpoint_auth_method?: AuthMethod | undefined
  /** Time limit for one token-endpoint or revocation call. Default 5 seconds. */
  readonly timeoutDuration?: Duration.Input | undefined
  /**
   * How `revocation_endpoint` revokes: `rfc7009` (default), or `github` for GitHub's
   * `DELETE /applications/{client_id}/token` (Basic credentials, the access token in JSON).
   */
  readonly revocation?: "rfc7009" | "github" | undefined
}

/**
 * `exchangeCode`'s parameters: core's, plus the optional `nonce` sent upstream.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExchangeCodeParams {
  readonly code: string
  readonly redirect_uri: string
  readonly code_verifier: string
  /** The `nonce` sent in the upstream authorization request, if one was. */
  readonly nonce?: string | undefined
}

/**
 * The port, with `exchangeCode` accepting the optional `nonce`.
 *
 * @category models
 * @since 0.1.0
 */
export interface TokenClientShape extends Upstream.UpstreamClientShape {
  readonly exchangeCode: (
    params: ExchangeCodeParams,
  ) => Effect.Effect<Upstream.UpstreamTokenResponse, OAuthError.UpstreamError>
}

/** A failed exchange inside `customFetch`; an Error so it survives the Promise boundary. */
class TransportFailure extends Error {
  readonly reason: SendFailure["reason"]
  constructor(failure: SendFailure) {
    super(failure.description)
    this.reason = failure.reason
  }
}

const statusOf = (error: oauth.OperationProcessingError): number | undefined =>
  error.cause instanceof Response ? error.cause.status : undefined

const isTransient = (status: number | undefined) => status !== undefined && (status >= 500 || status === 429)

/**
 * Translates whatever the protocol call threw into `UpstreamError`. Descriptions never carry
 * the upstream's `error_description` (it may echo request data), only its `error` code.
 *
 * @category error handling
 * @since 0.1.0
 */
export const toUpstreamError = (endpoint: string, error: unknown): OAuthError.UpstreamError => {
  const make = (reason: OAuthError.UpstreamError["reason"], retryable: boolean, description: string) =>
    new OAuthError.UpstreamError({ reason, retryable, description: `${endpoint}: ${description}` })
  if (error instanceof TransportFailure) {
    // A redirect or an oversized body will be the same on a retry; a network failure may not.
    return error.reason === "unreachable"
      ? make("unreachable", true, error.message)
      : make("bad_response", false, error.message)
  }
  if (error instanceof oauth.ResponseBodyError) {
    return isTransient(error.status)
      ? make("bad_response", true, `HTTP ${error.status} "${error.error}"`)
      : make("rejected", false, `refused with "${error.error}" (HTTP ${error.status})`)
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return isTransient(error.status)
      ? make("bad_response", true, `HTTP ${error.status}`)
      : make("rejected", false, `refused the client (HTTP ${error.status}, WWW-Authenticate)`)
  }
  if (error instanceof oauth.OperationProcessingError) {
    const status = statusOf(error)
    return make("bad_response", isTransient(status), status === undefined ? error.message : `HTTP ${status}`)
  }
  return make("bad_response", false, error instanceof Error ? error.message : "unexpected failure")
}

/**
 * oauth4webapi's `customFetch` over `HttpClient`: the request it built is sent by `send` (no
 * redirect followed — oauth4webapi asks for `redirect: "manual"` too —, at most
 * `maxResponseBytes` read), and the answer handed back as a web `Response`. Aborting `signal`
 * interrupts the request.
 */
const fetchVia =
  (client: HttpClient.HttpClient, rewrite: (answer: Answer) => Answer = (answer) => answer) =>
  (url: string, init: oauth.CustomFetchOptions<"POST", URLSearchParams>): Promise<Response> =>
    Effect.runPromise(
      send(
        client,
        HttpClientRequest.post(url, {
          headers: init.headers,
          body: HttpBody.text(init.body.toString(), init.headers["content-type"]),
        }),
      ).pipe(
        Effect.map(rewrite),
        Effect.map(
          (answer) =>
            new Response(answer.body.byteLength === 0 ? null : answer.body, {
              status: answer.status,
              headers: Object.entries(answer.headers),
            }),
        ),
        Effect.mapError((failure) => new TransportFailure(failure)),
      ),
      init.signal === undefined ? undefined : { signal: init.signal },
    )

/**
 * oauth4webapi's hook for an issuer that depends on the token (exported, untyped; openid-client
 * uses it for Entra). Should a release drop it, a templated issuer's id_tokens are refused, never
 * accepted unchecked.
 */
const expectedIssuer = (oauth as unknown as { readonly _expectedIssuer?: symbol })._expectedIssuer

const decodeTokenResponse = Schema.decodeUnknownEffect(Upstream.UpstreamTokenResponse)

/**
 * Builds the client.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options,
): Effect.Effect<TokenClientShape, never, HttpClient.HttpClient | Scope.Scope> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const scope = yield* Effect.scope
    const metadata = options.metadata
    const timeout = options.timeoutDuration ?? "5 seconds"
    const timeoutText = Duration.format(Duration.fromInputUnsafe(timeout))
    const algorithms = metadata["id_token_signing_alg_values_supported"]
    // Only what oauth4webapi needs: a minimal view keeps flags such as
    // `authorization_response_iss_parameter_supported` (checked by core at the callback) out.
    const as: oauth.AuthorizationServer = {
      issuer: metadata.issuer,
      token_endpoint: metadata.token_endpoint,
      ...(metadata.revocation_endpoint === undefined
        ? {}
        : { revocation_endpoint: metadata.revocation_endpoint }),
      id_token_signing_alg_values_supported:
        Array.isArray(algorithms) && algorithms.every((a) => typeof a === "string")
          ? algorithms
          : [...ProxyConfig.defaultUpstreamAlgorithms],
      // A templated issuer (Entra `{tenantid}`): the id_token's `iss` must be it with its own `tid`.
      ...(TenantIssuer.isTemplate(metadata.issuer) && expectedIssuer !== undefined
        ? {
            [expectedIssuer]: (result: { readonly claims: { readonly tid?: unknown } }) =>
              TenantIssuer.resolve(metadata.issuer, result.claims) ?? `${metadata.issuer} (no tenant id)`,
          }
        : {}),
    }
    const secret = Redacted.value(options.client_secret)
    const auth =
      options.token_endpoint_auth_method === "client_secret_post"
        ? oauth.ClientSecretPost(secret)
        : clientSecretBasic(secret)
    const customFetch = fetchVia(client)
    const tokenFetch = fetchVia(client, TokenAnswer.normalize)

    // Discovery already refused http on non-loopback hosts; oauth4webapi would refuse it everywhere.
    // Token-endpoint answers are normalised first (form bodies, errors with 200, comma scopes).
    const requestOptions = (endpoint: string, signal: AbortSignal) => ({
      signal,
      [oauth.customFetch]: endpoint === metadata.token_endpoint ? tokenFetch : customFetch,
      ...(new URL(endpoint).protocol === "http:" ? { [oauth.allowInsecureRequests]: true } : {}),
    })

    // oauth4webapi reads Date.now(); the skew makes its exp/iat checks use the Effect Clock.
    const clientAt = Effect.map(
      Clock.currentTimeMillis,
      (now): oauth.Client => ({
        client_id: options.client_id,
        [oauth.clockSkew]: Math.floor(now / 1000) - Math.floor(Date.now() / 1000),
      }),
    )

    const call = <A>(
      endpoint: string,
      label: string,
      run: (signal: AbortSignal, client: oauth.Client) => Promise<A>,
    ): Effect.Effect<A, OAuthError.UpstreamError> =>
      Effect.flatMap(clientAt, (oauthClient) =>
        Effect.tryPromise({
          try: (signal) => run(signal, oauthClient),
          catch: (error) => toUpstreamError(label, error),
        }),
      ).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new OAuthError.UpstreamError({
                reason: "timeout",
                retryable: true,
                description: `${label}: ${endpoint} did not answer within ${timeoutText}`,
              }),
            ),
        }),
      )

    // The token response as received (raw), then oauth4webapi's checks on it.
    const tokenCall = (
      label: string,
      send: (signal: AbortSignal, client: oauth.Client) => Promise<Response>,
      process: (response: Response, client: oauth.Client) => Promise<oauth.TokenEndpointResponse>,
    ) =>
      call(metadata.token_endpoint, label, async (signal, oauthClient) => {
        const response = await send(signal, oauthClient)
        const raw: unknown = await response
          .clone()
          .json()
          .catch(() => undefined)
        const processed = await process(response, oauthClient)
        return { processed, raw: typeof raw === "object" && raw !== null ? raw : processed }
      }).pipe(
        Effect.flatMap(({ processed, raw }) =>
          decodeTokenResponse({ ...processed, raw }).pipe(
            Effect.mapError(
              () =>
                new OAuthError.UpstreamError({
                  reason: "bad_response",
                  retryable: false,
                  description: `${label}: the token response has fields of an unexpected shape`,
                }),
            ),
          ),
        ),
      )

    const exchangeCode = (params: ExchangeCodeParams) =>
      tokenCall(
        "token endpoint (authorization_code)",
        (signal, oauthClient) =>
          oauth.authorizationCodeGrantRequest(
            as,
            oauthClient,
            auth,
            // The callback's state and iss were checked by core; this only brands the code.
            oauth.validateAuthResponse(
              as,
              oauthClient,
              new URLSearchParams({ code: params.code }),
              oauth.skipStateCheck,
            ),
            params.redirect_uri,
            params.code_verifier,
            requestOptions(metadata.token_endpoint, signal),
          ),
        (response, oauthClient) =>
          oauth.processAuthorizationCodeResponse(as, oauthClient, response, {
            expectedNonce: params.nonce ?? oauth.expectNoNonce,
          }),
      ).pipe(Effect.withSpan("TokenClient.exchangeCode"))

    const refreshOnce = (params: { readonly refresh_token: string; readonly scope?: string }) =>
      tokenCall(
        "token endpoint (refresh_token)",
        (signal, oauthClient) =>
          oauth.refreshTokenGrantRequest(as, oauthClient, auth, params.refresh_token, {
            ...requestOptions(metadata.token_endpoint, signal),
            ...(params.scope === undefined ? {} : { additionalParameters: { scope: params.scope } }),
          }),
        (response, oauthClient) => oauth.processRefreshTokenResponse(as, oauthClient, response),
      ).pipe(Effect.withSpan("TokenClient.refresh"))

    // Keyed by refresh token and scope: callers asking for the same thing share one request. The
    // request runs in the layer's scope so an interrupted first caller does not fail the others.
    const inflight = new Map<
      string,
      Deferred.Deferred<Upstream.UpstreamTokenResponse, OAuthError.UpstreamError>
    >()
    const refresh = (params: { readonly refresh_token: string; readonly scope?: string }) =>
      Effect.suspend(() => {
        const key = `${params.scope ?? ""}\u0000${params.refresh_token}`
        const pending = inflight.get(key)
        if (pending !== undefined) return Deferred.await(pending)
        const deferred = Deferred.makeUnsafe<Upstream.UpstreamTokenResponse, OAuthError.UpstreamError>()
        inflight.set(key, deferred)
        const settle = (exit: Exit.Exit<Upstream.UpstreamTokenResponse, OAuthError.UpstreamError>) =>
          Effect.sync(() => inflight.delete(key)).pipe(Effect.andThen(Deferred.done(deferred, exit)))
        return Effect.forkIn(refreshOnce(params).pipe(Effect.onExit(settle)), scope).pipe(
          Effect.andThen(Deferred.await(deferred)),
        )
      })

    const revokeAtGitHub = (endpoint: string, accessToken: string) => {
      const exchange: GitHubApi.Exchange = (request) =>
        send(client, request).pipe(
          Effect.mapError((failure) => toUpstreamError("revocation endpoint", new TransportFailure(failure))),
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.fail(
                new OAuthError.UpstreamError({
                  reason: "timeout",
                  retryable: true,
                  description: `revocation endpoint: ${endpoint} did not answer within ${timeoutText}`,
                }),
              ),
          }),
        )
      return GitHubApi.revoke(
        exchange,
        endpoint,
        plainBasicAuthorization(options.client_id, secret),
        accessToken,
      ).pipe(Effect.withSpan("TokenClient.revoke"))
    }

    const revoke = (params: {
      readonly token: string
      readonly token_type_hint?: "access_token" | "refresh_token"
      readonly access_token?: string
    }): Effect.Effect<void, OAuthError.UpstreamError> => {
      const endpoint = metadata.revocation_endpoint
      if (endpoint === undefined) return Effect.void
      if (options.revocation === "github") {
        const accessToken =
          params.access_token ?? (params.token_type_hint === "refresh_token" ? undefined : params.token)
        return accessToken === undefined ? Effect.void : revokeAtGitHub(endpoint, accessToken)
      }
      return call(endpoint, "revocation endpoint", async (signal, oauthClient) => {
        const response = await oauth.revocationRequest(as, oauthClient, auth, params.token, {
          ...requestOptions(endpoint, signal),
          ...(params.token_type_hint === undefined
            ? {}
            : { additionalParameters: { token_type_hint: params.token_type_hint } }),
        })
        await oauth.processRevocationResponse(response)
      }).pipe(Effect.withSpan("TokenClient.revoke"))
    }

    return { metadata, exchangeCode, refresh, revoke }
  })

/**
 * The `UpstreamClient` port over HTTP, for already validated metadata; needs an `HttpClient`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Upstream.UpstreamClient, never, HttpClient.HttpClient> =>
  Layer.effect(
    Upstream.UpstreamClient,
    Effect.map(make(options), (shape) => Upstream.UpstreamClient.of(shape)),
  )

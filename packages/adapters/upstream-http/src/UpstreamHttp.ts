/**
 * The upstream IdP over HTTP in one layer: discovery once at startup, then core's
 * `UpstreamClient` (token endpoint) and `Jwks` (cached signing keys) over the discovered metadata.
 *
 * Adapter over effect's `HttpClient` (provide `FetchHttpClient.layer`, or use `layerFetch`).
 * Endpoints may be given by hand (`endpoints`): both the authorization and the token endpoint
 * turn discovery off, any other replaces the discovered one.
 * Building the layer fails with `Discovery.DiscoveryError` when the IdP cannot be discovered or
 * its metadata lacks what the proxy needs, so a misconfigured proxy does not start.
 *
 * @since 0.1.0
 */
import { Jwks, OAuthError, type Upstream } from "@oidc-proxy/core"
import { type Duration, Effect, Layer, type Redacted } from "effect"
import { FetchHttpClient, type HttpClient } from "effect/http"
import * as Discovery from "./Discovery.ts"
import * as HttpJwks from "./HttpJwks.ts"
import * as TokenClient from "./TokenClient.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The IdP's issuer identifier, e.g. `https://login.example.com/realms/main`. Discovery reads
   * `{issuer}/.well-known/openid-configuration` and requires its `issuer` to equal this string
   * exactly. Required.
   */
  readonly issuer: string
  /**
   * The issuer the discovery document names instead of `issuer`, when it is a template with
   * `{tenantid}` (Entra's `common`/`organizations`; core's `TenantIssuer`). Default: `issuer`.
   */
  readonly issuerTemplate?: string | undefined
  /** The proxy's client id at the IdP. Required. */
  readonly client_id: string
  /** The proxy's client secret at the IdP; kept `Redacted`, never logged. Required. */
  readonly client_secret: Redacted.Redacted<string>
  /**
   * How the client authenticates at the token and revocation endpoints:
   * `client_secret_basic` (HTTP Basic) or `client_secret_post` (form fields).
   * Default `client_secret_basic`.
   */
  readonly token_endpoint_auth_method?: TokenClient.AuthMethod | undefined
  /**
   * Time limit for each upstream call (discovery, JWKS, token, revocation), as a duration
   * (`"5 seconds"`, millis as a number). Default 5 seconds.
   */
  readonly timeoutDuration?: Duration.Input | undefined
  /**
   * Least time between two JWKS refetches caused by tokens naming an unknown `kid`, and the wait
   * before retrying a failed JWKS endpoint while cached keys are served. Default 30 seconds.
   */
  readonly cooldownDuration?: Duration.Input | undefined
  /**
   * Upper bound on how long a fetched JWKS is used; the IdP's `Cache-Control: max-age` is honoured
   * below it. Also the lifetime when the IdP sends no `max-age`. Default 10 minutes.
   */
  readonly cacheMaxAge?: Duration.Input | undefined
  /**
   * Lower bound on how long a fetched JWKS is used, whatever the IdP's `Cache-Control` says.
   * Default 30 seconds.
   */
  readonly cacheMinAge?: Duration.Input | undefined
  /**
   * The IdP's metadata given by hand; when set, discovery is skipped (no request at startup). It
   * passes the same checks as a discovered document. Default: discover.
   */
  readonly metadata?: Upstream.UpstreamMetadata | undefined
  /**
   * Endpoints given by hand. With `authorization_endpoint` and `token_endpoint` both set, no
   * discovery happens and these are the metadata; otherwise each one set replaces the discovered
   * one. Default: none.
   */
  readonly endpoints?: Endpoints | undefined
  /**
   * How upstream tokens are verified; the endpoint the strategy calls (`jwks_uri`,
   * `introspection_endpoint`, `userinfo_endpoint`) must be known, or the layer fails to build
   * naming it. Default `jwt`.
   */
  readonly verification?: Verification | undefined
  /** How `revocation_endpoint` revokes (`TokenClient.Options.revocation`). Default `rfc7009`. */
  readonly revocation?: TokenClient.Options["revocation"]
}

/**
 * @category models
 * @since 0.1.0
 */
export type Verification = "jwt" | "introspection" | "userinfo"

/**
 * @category models
 * @since 0.1.0
 */
export type Endpoints = {
  readonly [K in Discovery.Endpoint | "authorization_endpoint" | "token_endpoint"]?: string | undefined
}

const strategyEndpoint = {
  jwt: "jwks_uri",
  introspection: "introspection_endpoint",
  userinfo: "userinfo_endpoint",
} as const satisfies Record<Verification, Discovery.Endpoint>

/** The endpoints that are set, without `undefined` members. */
const given = (endpoints: Endpoints | undefined): Record<string, string> =>
  Object.fromEntries(
    Object.entries(endpoints ?? {}).flatMap(([key, value]) =>
      typeof value === "string" ? [[key, value]] : [],
    ),
  )

/** A JWKS port for an upstream without `jwks_uri` (a network strategy verifies its tokens). */
const noJwks = Layer.succeed(Jwks.Jwks, {
  current: Effect.fail(
    new OAuthError.UpstreamError({
      reason: "bad_response",
      retryable: false,
      description: "the upstream has no jwks_uri",
    }),
  ),
  refresh: () =>
    Effect.fail(
      new OAuthError.UpstreamError({
        reason: "bad_response",
        retryable: false,
        description: "the upstream has no jwks_uri",
      }),
    ),
})

/**
 * The metadata in effect: `options.metadata` validated, or discovered.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolveMetadata = (
  options: Options,
): Effect.Effect<Upstream.UpstreamMetadata, Discovery.DiscoveryError, HttpClient.HttpClient> => {
  const required = [strategyEndpoint[options.verification ?? "jwt"]]
  const overrides = given(options.endpoints)
  if (options.metadata !== undefined)
    return Discovery.validate(
      options.issuerTemplate ?? options.issuer,
      { ...options.metadata, ...overrides },
      undefined,
      required,
    )
  if (overrides["authorization_endpoint"] !== undefined && overrides["token_endpoint"] !== undefined)
    return Discovery.validate(
      options.issuerTemplate ?? options.issuer,
      { issuer: options.issuerTemplate ?? options.issuer, ...overrides },
      undefined,
      required,
    )
  return Discovery.discover(options.issuer, {
    timeoutDuration: options.timeoutDuration ?? "5 seconds",
    required,
    overrides,
    expectedIssuer: options.issuerTemplate,
  })
}

/**
 * `UpstreamClient` and `Jwks` for the IdP at `options.issuer`; needs an `HttpClient`.
 *
 * Fails to build with `DiscoveryError` (see `Discovery.discover`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  options: Options,
): Layer.Layer<Upstream.UpstreamClient | Jwks.Jwks, Discovery.DiscoveryError, HttpClient.HttpClient> =>
  Layer.unwrap(
    Effect.map(resolveMetadata(options), (metadata) => {
      const jwksUri = metadata.jwks_uri
      return Layer.merge(
        TokenClient.layer({
          metadata,
          client_id: options.client_id,
          client_secret: options.client_secret,
          token_endpoint_auth_method: options.token_endpoint_auth_method,
          timeoutDuration: options.timeoutDuration,
          revocation: options.revocation,
        }),
        jwksUri === undefined
          ? noJwks
          : HttpJwks.layer({
              jwksUri,
              timeoutDuration: options.timeoutDuration,
              cooldownDuration: options.cooldownDuration,
              cacheMaxAge: options.cacheMaxAge,
              cacheMinAge: options.cacheMinAge,
            }),
      )
    }),
  )

/**
 * `layer` with effect's fetch-based `HttpClient` provided.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFetch = (
  options: Options,
): Layer.Layer<Upstream.UpstreamClient | Jwks.Jwks, Discovery.DiscoveryError> =>
  layer(options).pipe(Layer.provide(FetchHttpClient.layer))

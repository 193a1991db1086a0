/**
 * The upstream IdP as the proxy uses it: its metadata and its token endpoint.
 *
 * Port. The adapter (`@oidc-proxy/upstream-http`) does discovery, client authentication
 * (`client_secret_basic` / `client_secret_post`), protocol processing and timeouts; it coalesces
 * concurrent refreshes of one refresh token into one upstream call. The core's flows only see
 * decoded values and `UpstreamError`.
 *
 * @see [RFC 6749 §4.1.3, §6](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3)
 * @see [RFC 7009](https://www.rfc-editor.org/rfc/rfc7009)
 * @see [OpenID Connect Discovery 1.0 §3](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata)
 * @since 0.1.0
 */
import { Context, type Effect, Schema } from "effect"
import type { UpstreamError } from "./OAuthError.ts"

/**
 * The discovery fields the proxy needs (unknown members kept).
 *
 * @category schemas
 * @since 0.1.0
 */
export const UpstreamMetadata = Schema.StructWithRest(
  Schema.Struct({
    issuer: Schema.NonEmptyString,
    authorization_endpoint: Schema.NonEmptyString,
    token_endpoint: Schema.NonEmptyString,
    jwks_uri: Schema.optionalKey(Schema.NonEmptyString),
    revocation_endpoint: Schema.optionalKey(Schema.NonEmptyString),
    userinfo_endpoint: Schema.optionalKey(Schema.NonEmptyString),
    /** RFC 7662 (RFC 8414 §2 names it in server metadata). */
    introspection_endpoint: Schema.optionalKey(Schema.NonEmptyString),
    scopes_supported: Schema.optionalKey(Schema.Array(Schema.String)),
    code_challenge_methods_supported: Schema.optionalKey(Schema.Array(Schema.String)),
    token_endpoint_auth_methods_supported: Schema.optionalKey(Schema.Array(Schema.String)),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)

/**
 * @category models
 * @since 0.1.0
 */
export type UpstreamMetadata = typeof UpstreamMetadata.Type

/**
 * A successful token-endpoint response (RFC 6749 §5.1), decoded.
 *
 * @category schemas
 * @since 0.1.0
 */
export const UpstreamTokenResponse = Schema.Struct({
  access_token: Schema.NonEmptyString,
  token_type: Schema.String,
  id_token: Schema.optionalKey(Schema.NonEmptyString),
  refresh_token: Schema.optionalKey(Schema.NonEmptyString),
  /** Seconds. */
  expires_in: Schema.optionalKey(Schema.Number),
  /** Seconds; Keycloak and SAP CIS send it. */
  refresh_expires_in: Schema.optionalKey(Schema.Number),
  scope: Schema.optionalKey(Schema.String),
  /** The whole JSON body as received. */
  raw: Schema.Record(Schema.String, Schema.Unknown),
})

/**
 * @category models
 * @since 0.1.0
 */
export type UpstreamTokenResponse = typeof UpstreamTokenResponse.Type

/**
 * @category models
 * @since 0.1.0
 */
export interface UpstreamClientShape {
  /** The validated discovery document. */
  readonly metadata: UpstreamMetadata
  /**
   * Exchanges an authorization code (with the proxy's own PKCE verifier). A response's id_token
   * has its claims checked (`iss`, `aud`, `exp`; the callback relies on this under a network
   * verification strategy). With `nonce` (the one sent in the authorization request), the
   * id_token must be present and carry exactly it.
   */
  readonly exchangeCode: (params: {
    readonly code: string
    readonly redirect_uri: string
    readonly code_verifier: string
    readonly nonce?: string | undefined
  }) => Effect.Effect<UpstreamTokenResponse, UpstreamError>
  /** Refreshes; concurrent calls with the same refresh token share one upstream request. */
  readonly refresh: (params: {
    readonly refresh_token: string
    readonly scope?: string
  }) => Effect.Effect<UpstreamTokenResponse, UpstreamError>
  /**
   * Revokes an upstream token (RFC 7009); succeeds when the IdP has no revocation endpoint.
   * `access_token` is the session's access token whatever `token` is, for an IdP that can only
   * revoke access tokens (GitHub's application-token API).
   */
  readonly revoke: (params: {
    readonly token: string
    readonly token_type_hint?: "access_token" | "refresh_token"
    readonly access_token?: string
  }) => Effect.Effect<void, UpstreamError>
}

/**
 * @category services
 * @since 0.1.0
 */
export class UpstreamClient extends Context.Service<UpstreamClient, UpstreamClientShape>()(
  "@oidc-proxy/core/UpstreamClient",
) {}

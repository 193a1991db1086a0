/**
 * The failures a caller of the core can act on, as tagged errors.
 *
 * Pure core. Each error maps to exactly one HTTP answer; the mapping for bearer checks lives in
 * `BearerDecision.denyFromError`. Descriptions are safe to send to a client: they never contain a
 * token, a secret or a stack trace.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Why a bearer token was refused.
 *
 * @category models
 * @since 0.1.0
 */
export const InvalidTokenReason = Schema.Literals([
  "missing",
  "malformed",
  "token_type",
  "algorithm",
  "signature",
  "unknown_kid",
  "issuer",
  "audience",
  "expired",
  "not_yet_valid",
  "claims",
  "unknown_jti",
  "upstream_missing",
  "missing_id_token",
  "upstream_verification",
  "revoked",
])

/**
 * @category models
 * @since 0.1.0
 */
export type InvalidTokenReason = typeof InvalidTokenReason.Type

/**
 * A bearer token that cannot be accepted; answered with 401 `invalid_token`.
 *
 * `source` says which token failed: the proxy's own token or the upstream token behind it.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", {
  reason: InvalidTokenReason,
  source: Schema.Literals(["proxy", "upstream"]),
  description: Schema.String,
}) {}

/**
 * The store could not be reached or answered with an error; answered with 503
 * `temporarily_unavailable` (fail closed).
 *
 * @category errors
 * @since 0.1.0
 */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.Literals(["get", "set", "delete", "take", "setIfAbsent"]),
  description: Schema.String,
}) {}

/**
 * The upstream IdP (JWKS, token endpoint, discovery) could not be used.
 *
 * @category errors
 * @since 0.1.0
 */
export class UpstreamError extends Schema.TaggedError<UpstreamError>()("UpstreamError", {
  reason: Schema.Literals(["unreachable", "timeout", "bad_response", "rejected"]),
  retryable: Schema.Boolean,
  description: Schema.String,
}) {}

/**
 * The downstream token (RFC 8693 exchange, Entra on-behalf-of) could not be obtained, so the
 * request is not forwarded. `reason`: `unavailable` (the IdP is unreachable, timed out or answered
 * 5xx/429: 503 with `Retry-After`), `subject_refused` (the IdP answered `invalid_grant`: the upstream
 * token is no longer accepted, 401 `invalid_token` so the client signs in again), `no_subject` (no
 * upstream token behind the proxy token, 401 `invalid_token`), `refused` (any other OAuth error:
 * the gateway is not allowed this exchange, 403 `access_denied`; signing in again cannot help),
 * `bad_response` (an answer that is not a usable token: 502). `error` is the IdP's OAuth error
 * code when it sent one (never its `error_description`, which may quote request data).
 *
 * @category errors
 * @since 0.1.0
 */
export class DownstreamTokenError extends Schema.TaggedError<DownstreamTokenError>()("DownstreamTokenError", {
  reason: Schema.Literals(["unavailable", "subject_refused", "no_subject", "refused", "bad_response"]),
  error: Schema.optionalKey(Schema.String),
  description: Schema.String,
}) {}

/**
 * The OAuth error codes the authorization server answers with (RFC 6749 §4.1.2.1, §5.2; RFC 7591
 * §3.2.2; RFC 8707 §2; RFC 6750 §3.1).
 *
 * @category models
 * @since 0.1.0
 */
export const OAuthErrorCode = Schema.Literals([
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "unsupported_response_type",
  "invalid_scope",
  "invalid_target",
  "access_denied",
  "server_error",
  "temporarily_unavailable",
  "invalid_redirect_uri",
  "invalid_client_metadata",
  "invalid_token",
])

/**
 * @category models
 * @since 0.1.0
 */
export type OAuthErrorCode = typeof OAuthErrorCode.Type

/**
 * A protocol error of an authorization-server endpoint: the OAuth `error` code and a description
 * safe to show to the client. How it is answered (JSON 400/401, redirect to the client, or an
 * error page) depends on the endpoint and is decided in one place at the HTTP edge.
 *
 * `redirect` is set when the error must be sent to the client's redirect URI (RFC 6749
 * §4.1.2.1); it is absent when the redirect URI itself cannot be trusted, and the user then sees
 * an error page instead.
 *
 * @category errors
 * @since 0.1.0
 */
export class OAuthFailure extends Schema.TaggedError<OAuthFailure>()("OAuthFailure", {
  error: OAuthErrorCode,
  description: Schema.String,
  redirect: Schema.optionalKey(
    Schema.Struct({
      redirect_uri: Schema.String,
      state: Schema.optionalKey(Schema.String),
    }),
  ),
  /** The client authenticated with HTTP Basic: a 401 answer carries `WWW-Authenticate: Basic`. */
  basic: Schema.optionalKey(Schema.Boolean),
  /** A quota is exhausted: answered 429 with `Retry-After` of this many seconds. */
  retry_after: Schema.optionalKey(Schema.Number),
}) {}

/**
 * A quota that is exhausted (`Quota`): `temporarily_unavailable`, answered 429 with
 * `Retry-After: <seconds>`.
 *
 * @see [RFC 6585 §4](https://www.rfc-editor.org/rfc/rfc6585#section-4)
 * @category constructors
 * @since 0.1.0
 */
export const tooManyRequests = (description: string, retryAfterSeconds: number): OAuthFailure =>
  new OAuthFailure({
    error: "temporarily_unavailable",
    description,
    retry_after: Math.max(1, Math.ceil(retryAfterSeconds)),
  })

/**
 * @category constructors
 * @since 0.1.0
 */
export const oauth = (
  error: OAuthErrorCode,
  description: string,
  redirect?: { readonly redirect_uri: string; readonly state?: string | undefined },
): OAuthFailure =>
  new OAuthFailure({
    error,
    description,
    ...(redirect === undefined
      ? {}
      : {
          redirect: {
            redirect_uri: redirect.redirect_uri,
            ...(redirect.state === undefined ? {} : { state: redirect.state }),
          },
        }),
  })

/**
 * A Client ID Metadata Document (or its `jwks_uri`) could not be fetched safely. `reason` names
 * the rule: `disabled` (no fetcher), `scheme`, `address` (a private, loopback, link-local or
 * metadata address), `redirect` (never followed), `status`, `content_type`, `too_large`,
 * `timeout`, `unreachable`, `malformed` (not JSON).
 *
 * @category errors
 * @since 0.1.0
 */
export class ClientMetadataError extends Schema.TaggedError<ClientMetadataError>()("ClientMetadataError", {
  reason: Schema.Literals([
    "disabled",
    "scheme",
    "address",
    "redirect",
    "status",
    "content_type",
    "too_large",
    "timeout",
    "unreachable",
    "malformed",
    "busy",
  ]),
  description: Schema.String,
}) {}

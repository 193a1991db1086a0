/**
 * The failures a caller of the core can act on, as tagged errors.
 *
 * Pure core. Each error maps to exactly one HTTP answer; the mapping for bearer checks lives in
 * `Authorize.denyFromError`. Descriptions are safe to send to a client: they never contain a
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
  operation: Schema.Literals(["get", "set", "delete", "take"]),
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

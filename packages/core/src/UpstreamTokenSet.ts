/**
 * The token set obtained from the upstream IdP's token endpoint, as the proxy records it.
 *
 * Pure core (schema only). The `scope` field is the scope set recorded at authorization or
 * refresh time — the granted `scope` of the token response when the IdP sends one, otherwise the
 * scopes the proxy requested. In id_token mode it is the only source of scopes.
 *
 * @see [RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1)
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * @category schemas
 * @since 0.1.0
 */
export const UpstreamTokenSet = Schema.Struct({
  /** Identifier of this record; jti mappings point at it. */
  id: Schema.NonEmptyString,
  /** The upstream access token (JWT or opaque). */
  access_token: Schema.NonEmptyString,
  /** The upstream id_token, when the IdP returned one. It may equal `access_token` (SAP CIS). */
  id_token: Schema.optionalKey(Schema.NonEmptyString),
  /** The upstream refresh token, when the IdP returned one. */
  refresh_token: Schema.optionalKey(Schema.NonEmptyString),
  /** `token_type` of the response, usually `Bearer`. */
  token_type: Schema.String,
  /** Scope set recorded at authorization/refresh time, normalised. */
  scope: Schema.Array(Schema.String),
  /** Expiry of the upstream access token, seconds since the epoch. */
  expires_at: Schema.Number,
  /** Expiry of the upstream refresh token, seconds since the epoch, when known. */
  refresh_expires_at: Schema.optionalKey(Schema.Number),
  /** The token response as received, for claims the proxy does not model. */
  raw: Schema.Record(Schema.String, Schema.Unknown),
})

/**
 * @category models
 * @since 0.1.0
 */
export type UpstreamTokenSet = typeof UpstreamTokenSet.Type

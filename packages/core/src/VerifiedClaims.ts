/**
 * The claims of an upstream token whose signature, issuer, audience and lifetime were verified.
 *
 * Pure core (schema only). Members the proxy does not model are kept.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * @category schemas
 * @since 0.1.0
 */
export const VerifiedClaims = Schema.StructWithRest(
  Schema.Struct({
    iss: Schema.String,
    sub: Schema.optionalKey(Schema.String),
    aud: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
    exp: Schema.optionalKey(Schema.Number),
    iat: Schema.optionalKey(Schema.Number),
    nbf: Schema.optionalKey(Schema.Number),
    /** Space-separated scopes (RFC 9068). */
    scope: Schema.optionalKey(Schema.Unknown),
    /** Scopes as a string or an array (Entra, Okta). */
    scp: Schema.optionalKey(Schema.Unknown),
    email: Schema.optionalKey(Schema.Unknown),
  }),
  [Schema.Record(Schema.String, Schema.Unknown)],
)

/**
 * @category models
 * @since 0.1.0
 */
export type VerifiedClaims = typeof VerifiedClaims.Type

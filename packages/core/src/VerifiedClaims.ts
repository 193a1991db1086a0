/**
 * The claims of an upstream token whose signature, issuer, audience and lifetime were verified.
 *
 * Pure core (schema only). Members the proxy does not model are kept.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Decoded from "./internal/decoded.ts"

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

const audience = (value: unknown) => typeof value === "string" || Decoded.strings(value)

/**
 * Whether `value` (a JWT payload as JSON.parse gives it) is already `VerifiedClaims` exactly as the
 * Schema decodes it, so a verifier can use it as is; anything else goes through the Schema.
 * Tested against the Schema (`test/DecodedSchemas.test.ts`): `true` ⇒ the decode succeeds and
 * equals `value`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const isDecoded = (value: unknown): value is VerifiedClaims =>
  Decoded.plain(value) &&
  Decoded.string(value["iss"]) &&
  Decoded.optional(value, "sub", Decoded.string) &&
  Decoded.optional(value, "aud", audience) &&
  Decoded.optional(value, "exp", Decoded.finite) &&
  Decoded.optional(value, "iat", Decoded.finite) &&
  Decoded.optional(value, "nbf", Decoded.finite)

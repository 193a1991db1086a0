/**
 * The claims of the access tokens the proxy issues to MCP clients (JWT, `typ: at+jwt`).
 *
 * Pure core (schema only).
 *
 * @see [RFC 9068 §2.2](https://www.rfc-editor.org/rfc/rfc9068#section-2.2)
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Decoded from "./internal/decoded.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const ProxyTokenClaims = Schema.Struct({
  /** The proxy's issuer URL. */
  iss: Schema.NonEmptyString,
  /** The protected resource the token is for (RFC 8707). */
  aud: Schema.Union([Schema.NonEmptyString, Schema.Array(Schema.NonEmptyString)]),
  /** The upstream subject. */
  sub: Schema.NonEmptyString,
  /** The MCP client the token was issued to. */
  client_id: Schema.NonEmptyString,
  /** Granted scopes, space-separated. */
  scope: Schema.optionalKey(Schema.String),
  /** Unique token id; the key of the jti mapping. */
  jti: Schema.NonEmptyString,
  exp: Schema.Number,
  iat: Schema.Number,
  nbf: Schema.optionalKey(Schema.Number),
})

/**
 * @category models
 * @since 0.1.0
 */
export type ProxyTokenClaims = typeof ProxyTokenClaims.Type

const members: ReadonlySet<string> = new Set(Object.keys(ProxyTokenClaims.fields))
const audience = (value: unknown) => Decoded.nonEmpty(value) || Decoded.strings(value, Decoded.nonEmpty)

/**
 * Whether `value` (a verified token's payload as JSON.parse gives it) is already
 * `ProxyTokenClaims` exactly as the Schema decodes it (no other member), so it can be used as is;
 * anything else goes through the Schema. Tested against the Schema
 * (`test/DecodedSchemas.test.ts`): `true` ⇒ the decode succeeds and equals `value`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const isDecoded = (value: unknown): value is ProxyTokenClaims =>
  Decoded.plain(value) &&
  Decoded.only(value, members) &&
  Decoded.nonEmpty(value["iss"]) &&
  audience(value["aud"]) &&
  Decoded.nonEmpty(value["sub"]) &&
  Decoded.nonEmpty(value["client_id"]) &&
  Decoded.optional(value, "scope", Decoded.string) &&
  Decoded.nonEmpty(value["jti"]) &&
  Decoded.finite(value["exp"]) &&
  Decoded.finite(value["iat"]) &&
  Decoded.optional(value, "nbf", Decoded.finite)

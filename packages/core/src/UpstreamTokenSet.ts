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
import * as IdentityClaims from "./IdentityClaims.ts"
import * as Decoded from "./internal/decoded.ts"
import * as Scopes from "./Scopes.ts"

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
  /**
   * The identity members of the id_token verified at sign-in (access_token mode), the fallback for
   * an access token that lacks them (`IdentityClaims.withFallback`). Kept across refreshes.
   */
  identity: Schema.optionalKey(IdentityClaims.IdentityClaims),
  /**
   * The members of the token response the proxy does not model (`unmodelled`); records written
   * before may hold the whole response.
   */
  raw: Schema.Record(Schema.String, Schema.Unknown),
})

/**
 * @category models
 * @since 0.1.0
 */
export type UpstreamTokenSet = typeof UpstreamTokenSet.Type

const members: ReadonlySet<string> = new Set(Object.keys(UpstreamTokenSet.fields))

/**
 * Whether `value` (parsed JSON) is already an `UpstreamTokenSet` exactly as the Schema decodes it:
 * every member of the Schema's shape, none other, `raw` a plain record. Such a record is used as is
 * (a token set read from the store, authenticated by AES-GCM, is nearly always one); anything else
 * goes through the Schema decode — older shapes included. `false` is never a verdict on its own.
 * Tested against the Schema (`test/UpstreamTokenSet.test.ts`): `true` ⇒ the decode succeeds and
 * equals `value`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const isDecoded = (value: unknown): value is UpstreamTokenSet =>
  Decoded.plain(value) &&
  Decoded.only(value, members) &&
  Decoded.nonEmpty(value["id"]) &&
  Decoded.nonEmpty(value["access_token"]) &&
  Decoded.optional(value, "id_token", Decoded.nonEmpty) &&
  Decoded.optional(value, "refresh_token", Decoded.nonEmpty) &&
  Decoded.string(value["token_type"]) &&
  Decoded.strings(value["scope"]) &&
  Decoded.finite(value["expires_at"]) &&
  Decoded.optional(value, "refresh_expires_at", Decoded.finite) &&
  Decoded.optional(value, "identity", IdentityClaims.isDecoded) &&
  Decoded.plain(value["raw"])

/**
 * The fields of a token-endpoint response that the proxy records.
 *
 * @category models
 * @since 0.1.0
 */
export interface TokenResponseFields {
  readonly access_token: string
  readonly token_type: string
  readonly id_token?: string
  readonly refresh_token?: string
  readonly expires_in?: number
  readonly refresh_expires_in?: number
  readonly scope?: string
  readonly raw: Readonly<Record<string, unknown>>
}

/** Assumed lifetime of an upstream access token whose response has no `expires_in`. */
const defaultLifetime = 3600

/**
 * Records a token response. The scope set is the response's `scope` when the IdP sent one,
 * otherwise the scopes recorded before (refresh) or requested (first sign-in) — RFC 6749 §5.1 says
 * an absent `scope` means the requested scope was granted. On a refresh, an id_token or refresh
 * token the response does not repeat is kept from `previous`, and so are the sign-in's identity
 * claims (`identity`: as of sign-in, like the access rules, whatever id_token the refresh returns).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromTokenResponse = (
  id: string,
  response: TokenResponseFields,
  now: number,
  fallbackScope: ReadonlyArray<string>,
  previous?: UpstreamTokenSet,
): UpstreamTokenSet => {
  const idToken = response.id_token ?? previous?.id_token
  const refreshToken = response.refresh_token ?? previous?.refresh_token
  const refreshExpiresAt =
    response.refresh_expires_in !== undefined && response.refresh_expires_in > 0
      ? now + response.refresh_expires_in
      : response.refresh_token === undefined
        ? previous?.refresh_expires_at
        : undefined
  const scope =
    response.scope !== undefined && response.scope.trim() !== ""
      ? [...Scopes.fromUpstream([response.scope])]
      : [...fallbackScope]
  return {
    id,
    access_token: response.access_token,
    ...(idToken === undefined ? {} : { id_token: idToken }),
    ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    token_type: response.token_type,
    scope,
    expires_at:
      now +
      (response.expires_in !== undefined && response.expires_in > 0 ? response.expires_in : defaultLifetime),
    ...(refreshExpiresAt === undefined ? {} : { refresh_expires_at: refreshExpiresAt }),
    ...(previous?.identity === undefined ? {} : { identity: previous.identity }),
    raw: unmodelled(response.raw),
  }
}

/** The members of a token response the record models in fields of its own. */
const modelled = new Set([
  "access_token",
  "id_token",
  "refresh_token",
  "token_type",
  "expires_in",
  "refresh_expires_in",
  "scope",
])

/**
 * The members of a token response `UpstreamTokenSet` does not model: `raw` keeps only these, so the
 * tokens are not stored twice (older records with a full `raw` still decode).
 *
 * @category constructors
 * @since 0.1.0
 */
export const unmodelled = (raw: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(raw)) if (!modelled.has(key)) out[key] = raw[key]
  return out
}

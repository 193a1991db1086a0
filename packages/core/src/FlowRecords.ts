/**
 * The records the OAuth flows keep in the `TokenStore`, from `/authorize` to revocation: the
 * authorization transaction, the code and what its redemption leaves behind, refresh tokens, their
 * rotation and their family (and its revocation mark), remembered consents and grants, and used
 * client-assertion ids.
 *
 * Pure core (schemas only); `TokenStore` names a collection for each. Ids that are bearer secrets
 * (transaction id = upstream `state`, code, refresh token) are never stored in clear: the
 * collections hash them.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * An authorization request in flight: created at `/authorize`, taken once at the callback.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Transaction = Schema.Struct({
  client_id: Schema.String,
  redirect_uri: Schema.String,
  /** The client's PKCE S256 challenge. */
  code_challenge: Schema.String,
  /** The client's `state`, returned as is. */
  state: Schema.optionalKey(Schema.String),
  /** Scopes granted to the client for this sign-in (normalised). */
  scope: Schema.Array(Schema.String),
  /** Scopes requested upstream. */
  upstream_scope: Schema.Array(Schema.String),
  resource: Schema.String,
  /** The proxy's own PKCE verifier towards the upstream. */
  upstream_code_verifier: Schema.String,
  /**
   * The `nonce` sent upstream with `openid` (OpenID Connect Core §3.1.2.1); the id_token of the
   * code exchange must carry it. Absent in transactions written before it existed.
   */
  upstream_nonce: Schema.optionalKey(Schema.String),
  /** Keyed hash of the browser-binding cookie's value. */
  binding_hash: Schema.String,
  /** The consent form's CSRF token (compared in constant time). */
  csrf: Schema.String,
  /** Set once the user approved on the consent page (or consent is off). */
  consented: Schema.Boolean,
  created_at: Schema.Number,
})

/**
 * @category models
 * @since 0.1.0
 */
export type Transaction = typeof Transaction.Type

/**
 * A code issued to a client after the upstream callback.
 *
 * @category schemas
 * @since 0.1.0
 */
export const AuthorizationCode = Schema.Struct({
  client_id: Schema.String,
  redirect_uri: Schema.String,
  code_challenge: Schema.String,
  scope: Schema.Array(Schema.String),
  resource: Schema.String,
  subject: Schema.String,
  upstream_token_set_id: Schema.String,
  /** The refresh-token family the code's redemption creates (revoked on replay). */
  family_id: Schema.String,
  expires_at: Schema.Number,
})

/**
 * @category models
 * @since 0.1.0
 */
export type AuthorizationCode = typeof AuthorizationCode.Type

/**
 * A refresh token's record (stored under its keyed hash).
 *
 * @category schemas
 * @since 0.1.0
 */
export const RefreshRecord = Schema.Struct({
  family_id: Schema.String,
  client_id: Schema.String,
  scope: Schema.Array(Schema.String),
  resource: Schema.String,
  subject: Schema.String,
  upstream_token_set_id: Schema.String,
  expires_at: Schema.Number,
})

/**
 * @category models
 * @since 0.1.0
 */
export type RefreshRecord = typeof RefreshRecord.Type

/**
 * What a rotated refresh token left behind for its grace window: the answer it produced, so a
 * retried request gets the same tokens (stored encrypted), and its family for reuse detection.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RotatedRefresh = Schema.Struct({
  family_id: Schema.String,
  client_id: Schema.String,
  rotated_at: Schema.Number,
  /** The token response of the rotation; absent while the rotation is still running. */
  response: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
})

/**
 * @category models
 * @since 0.1.0
 */
export type RotatedRefresh = typeof RotatedRefresh.Type

/**
 * All tokens descending from one authorization code; revoked together.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Family = Schema.Struct({
  family_id: Schema.String,
  client_id: Schema.String,
  upstream_token_set_id: Schema.String,
  revoked: Schema.Boolean,
  /** Access-token jtis issued in this family (deleted on revocation). */
  jtis: Schema.Array(Schema.String),
  expires_at: Schema.Number,
  /** The signed-in subject: revoking the family forgets the grant remembered for it. */
  subject: Schema.optionalKey(Schema.String),
})

/**
 * @category models
 * @since 0.1.0
 */
export type Family = typeof Family.Type

/**
 * What a redeemed code leaves behind so that a replay revokes what it issued.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RedeemedCode = Schema.Struct({
  family_id: Schema.String,
  client_id: Schema.String,
  /** The code's upstream token set: a replay revokes it even before the family is written. */
  upstream_token_set_id: Schema.optionalKey(Schema.String),
})

/**
 * The mark of a revoked family, apart from the family record: nothing ever writes it back to "not
 * revoked", so a grant that writes the family record concurrently cannot undo a revocation.
 *
 * @category schemas
 * @since 0.1.0
 */
export const RevokedFamily = Schema.Struct({ revoked_at: Schema.Number })

/**
 * A consent remembered for one client in one browser (consent mode `remember`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const RememberedConsent = Schema.Struct({
  client_id: Schema.String,
  scope: Schema.Array(Schema.String),
})

/**
 * The scopes last granted to one client for one subject, remembered at the callback so that a
 * re-authorization asking for more keeps what was granted before (MCP SEP-2350 step-up).
 *
 * @category schemas
 * @since 0.1.0
 */
export const RememberedGrant = Schema.Struct({
  client_id: Schema.String,
  subject: Schema.String,
  scope: Schema.Array(Schema.String),
  /** The scopes recorded for the upstream token set (id_token mode reads these). */
  upstream_scope: Schema.Array(Schema.String),
})

/**
 * A `private_key_jwt` assertion's `jti`, kept until the assertion expires so it cannot be
 * replayed, on any instance sharing the store.
 *
 * @category schemas
 * @since 0.1.0
 */
export const UsedAssertion = Schema.Struct({ client_id: Schema.String, expires_at: Schema.Number })

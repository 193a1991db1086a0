/**
 * The link from a proxy access token (by its `jti`) to the upstream token set it stands for.
 *
 * Pure core (schema only).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * @category schemas
 * @since 0.1.0
 */
export const JtiMapping = Schema.Struct({
  /** The proxy token's `jti`. */
  jti: Schema.NonEmptyString,
  /** `UpstreamTokenSet.id` of the upstream token set. */
  upstream_token_set_id: Schema.NonEmptyString,
  /** Client the proxy token was issued to. */
  client_id: Schema.NonEmptyString,
  /** Expiry of the proxy token, seconds since the epoch. */
  expires_at: Schema.Number,
})

/**
 * @category models
 * @since 0.1.0
 */
export type JtiMapping = typeof JtiMapping.Type

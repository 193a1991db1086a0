/**
 * The link from a proxy access token (by its `jti`) to the upstream token set it stands for.
 *
 * Pure core (schema only).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Decoded from "./internal/decoded.ts"

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

const members: ReadonlySet<string> = new Set(Object.keys(JtiMapping.fields))

/**
 * Whether `value` (a stored mapping as JSON.parse gives it, `jti` put back) is already a
 * `JtiMapping` exactly as the Schema decodes it, so a read can use it as is; anything else goes
 * through the Schema. Tested against the Schema (`test/DecodedSchemas.test.ts`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const isDecoded = (value: unknown): value is JtiMapping =>
  Decoded.plain(value) &&
  Decoded.only(value, members) &&
  Decoded.nonEmpty(value["jti"]) &&
  Decoded.nonEmpty(value["upstream_token_set_id"]) &&
  Decoded.nonEmpty(value["client_id"]) &&
  Decoded.finite(value["expires_at"])

/**
 * Downstream tokens: the token the gateway hands the protected resource for its own calls to APIs
 * behind it, obtained with the upstream access token as subject — an RFC 8693 token exchange, or
 * Microsoft Entra's on-behalf-of flow as a preset of it — and the decisions on a held result
 * (still good, or to be renewed).
 *
 * Pure core: Schemas and plain functions; time is passed in. The exchange itself is a call to the
 * IdP's token endpoint made by an adapter; `DownstreamTokenCache` runs it once per upstream session.
 *
 * @see [RFC 8693 §2.1, §2.2](https://www.rfc-editor.org/rfc/rfc8693#section-2.1)
 * @see [Microsoft identity platform: on-behalf-of flow](https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow)
 * @since 0.1.0
 */
import { Result, Schema } from "effect"

/**
 * `grant_type` of an RFC 8693 token exchange.
 *
 * @category constants
 * @since 0.1.0
 */
export const tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

/**
 * `grant_type` of Entra's on-behalf-of request (RFC 7523's JWT bearer grant).
 *
 * @category constants
 * @since 0.1.0
 */
export const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

/**
 * RFC 8693 token type of an access token: the subject sent, and the only type requested.
 *
 * @category constants
 * @since 0.1.0
 */
export const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"

/**
 * How the downstream token is obtained: `exchange` (RFC 8693) or `entra-obo` (Entra's on-behalf-of).
 *
 * @category models
 * @since 0.1.0
 */
export const Grant = Schema.Literals(["exchange", "entra-obo"])

/**
 * @category models
 * @since 0.1.0
 */
export type Grant = typeof Grant.Type

/**
 * What the gateway asks the IdP for. `audience`, `resource` and `scope` are sent when set
 * (`entra-obo` sends only `scope`, which Entra requires, e.g. `api://downstream/.default`).
 *
 * @category schemas
 * @since 0.1.0
 */
export const Settings = Schema.Struct({
  grant: Grant,
  /** RFC 8693 `audience`: the logical name of the target service. */
  audience: Schema.optionalKey(Schema.String),
  /** RFC 8693 `resource`: the URI of the target service. */
  resource: Schema.optionalKey(Schema.String),
  /** Space-separated scopes of the requested token. */
  scope: Schema.optionalKey(Schema.String),
})

/**
 * @category models
 * @since 0.1.0
 */
export type Settings = typeof Settings.Type

/**
 * The form parameters of the exchange request for `subjectToken` (the upstream access token),
 * client authentication aside.
 *
 * @see [RFC 8693 §2.1](https://www.rfc-editor.org/rfc/rfc8693#section-2.1)
 * @category constructors
 * @since 0.1.0
 */
export const grantParameters = (
  settings: Settings,
  subjectToken: string,
): ReadonlyArray<readonly [string, string]> => {
  if (settings.grant === "entra-obo")
    return [
      ["grant_type", jwtBearerGrant],
      ["requested_token_use", "on_behalf_of"],
      ["assertion", subjectToken],
      ...(settings.scope === undefined ? [] : [["scope", settings.scope] as const]),
    ]
  return [
    ["grant_type", tokenExchangeGrant],
    ["subject_token", subjectToken],
    ["subject_token_type", accessTokenType],
    ["requested_token_type", accessTokenType],
    ...(settings.audience === undefined ? [] : [["audience", settings.audience] as const]),
    ...(settings.resource === undefined ? [] : [["resource", settings.resource] as const]),
    ...(settings.scope === undefined ? [] : [["scope", settings.scope] as const]),
  ]
}

/**
 * A successful exchange response (unknown members ignored).
 *
 * @see [RFC 8693 §2.2.1](https://www.rfc-editor.org/rfc/rfc8693#section-2.2.1)
 * @category schemas
 * @since 0.1.0
 */
export const ExchangeResponse = Schema.Struct({
  access_token: Schema.NonEmptyString,
  /** `Bearer` for a token usable as a bearer access token; RFC 8693 allows `N_A` otherwise. */
  token_type: Schema.String,
  /** Required by RFC 8693, absent from Entra's answers. */
  issued_token_type: Schema.optionalKey(Schema.String),
  /** Seconds. */
  expires_in: Schema.optionalKey(Schema.Finite),
  scope: Schema.optionalKey(Schema.String),
})

/**
 * @category models
 * @since 0.1.0
 */
export type ExchangeResponse = typeof ExchangeResponse.Type

/**
 * The longest downstream token forwarded, in characters: more than most servers take in all their
 * request headers together (Node: 16 KiB), and with the cache's 10 000 entries a bound on its memory.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxTokenLength = 16_384

/** Visible ASCII: a header value as is, and one `Bearer` credential (no space to split it on). */
const headerSafe = /^[\x21-\x7e]+$/

/**
 * Whether `token` can travel as a header value unchanged: 1 to `maxTokenLength` visible ASCII
 * characters. A CR or LF would split the forwarded request's header (or have it refused), any other
 * character reach the target as bytes it may decode otherwise.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isForwardable = (token: string): boolean =>
  token.length <= maxTokenLength && headerSafe.test(token)

/**
 * Whether a decoded response is a token the gateway can forward as a bearer access token: its
 * `token_type` is `Bearer` (any case), its `issued_token_type`, when given, the access-token
 * type, and its `access_token` forwardable (`isForwardable`). Fails with a description otherwise
 * (no token in it).
 *
 * @category predicates
 * @since 0.1.0
 */
export const checkResponse = (response: ExchangeResponse): Result.Result<ExchangeResponse, string> => {
  if (response.token_type.toLowerCase() !== "bearer")
    return Result.fail(`token_type is ${JSON.stringify(response.token_type.slice(0, 20))}, not Bearer`)
  if (response.issued_token_type !== undefined && response.issued_token_type !== accessTokenType)
    return Result.fail("issued_token_type is not an access token")
  if (!isForwardable(response.access_token))
    return Result.fail(
      `access_token is not 1 to ${maxTokenLength} visible ASCII characters (it cannot be a header value)`,
    )
  return Result.succeed(response)
}

/**
 * How long a result without `expires_in` is held, in seconds.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultLifetimeSeconds = 60

/**
 * The longest a result is held, in seconds, whatever its `expires_in`: a token the IdP revokes is
 * asked for again within this bound.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxHoldSeconds = 3600

/**
 * The largest renewal margin before expiry, in seconds. The margin is a quarter of the lifetime up
 * to this, so a short-lived token is still reused for three quarters of its life.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxSkewSeconds = 30

/**
 * A result held for an upstream session.
 *
 * @category models
 * @since 0.1.0
 */
export interface Held {
  readonly token: string
  /** When the token expires, epoch milliseconds. */
  readonly expiresAt: number
  /** From when it is renewed instead of reused, epoch milliseconds (`≤ expiresAt`). */
  readonly renewAt: number
}

/**
 * What to hold of `response`, obtained at `nowMillis`: it is reused until `renewAt`, the lifetime
 * (`expires_in`, else `defaultLifetimeSeconds`, at most `maxHoldSeconds`) minus the margin. A
 * lifetime of zero or less is used once and never reused.
 *
 * @category constructors
 * @since 0.1.0
 */
export const hold = (response: ExchangeResponse, nowMillis: number): Held => {
  const lifetime = Math.min(response.expires_in ?? defaultLifetimeSeconds, maxHoldSeconds)
  if (!(lifetime > 0)) return { token: response.access_token, expiresAt: nowMillis, renewAt: nowMillis }
  const skew = Math.min(maxSkewSeconds, lifetime / 4)
  return {
    token: response.access_token,
    expiresAt: nowMillis + lifetime * 1000,
    renewAt: nowMillis + (lifetime - skew) * 1000,
  }
}

/**
 * Whether `held` may be forwarded again at `nowMillis` rather than renewed.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isReusable = (held: Held, nowMillis: number): boolean => nowMillis < held.renewAt

/**
 * Identity claims taken from the id_token verified at sign-in, and the one rule that lets them
 * fill gaps in an access token's claims.
 *
 * Pure core (schema and plain functions). Auth0, Okta and Cognito put no `email` (often no `name`)
 * in their access tokens; the id_token of the same sign-in has them. In access_token mode the
 * `AccessToken`'s claims (identity headers, `McpPolicy` conditions) then take these members from
 * the id_token, and nothing else:
 * - only `email` with `email_verified` (as a pair), `name` and `preferred_username`;
 * - only when the verified access token has the same `iss` and `sub` as the id_token;
 * - only a member the access token lacks: its own values always win.
 *
 * Never scopes, audience, expiry, client id or groups: what authorizes a request comes from the
 * token issued for it (design §1, FastMCP #3461). `groups` stay with the access token because they
 * are authorization data like scopes — an allow rule on a group must not be met by a sign-in-time
 * statement addressed to the proxy's client rather than to the resource; providers that put groups
 * in id_tokens can put them in access tokens too (an Auth0 Action, Okta's access-token groups
 * claim; Cognito's `cognito:groups` already is).
 *
 * @see [OpenID Connect Core §5.1](https://openid.net/specs/openid-connect-core-1_0.html#StandardClaims)
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Decoded from "./internal/decoded.ts"
import type { VerifiedClaims } from "./VerifiedClaims.ts"

/**
 * What an upstream token set keeps of its verified id_token: who issued it about whom, and the
 * allow-listed identity members.
 *
 * @category schemas
 * @since 0.1.0
 */
export const IdentityClaims = Schema.Struct({
  /** The id_token's issuer; the fallback applies only to an access token with the same `iss`. */
  iss: Schema.String,
  /** The id_token's subject; the fallback applies only to an access token with the same `sub`. */
  sub: Schema.String,
  email: Schema.optionalKey(Schema.String),
  /** Kept as the IdP sent it (`true`, or the string `"true"` some IdPs send). */
  email_verified: Schema.optionalKey(Schema.Union([Schema.Boolean, Schema.String])),
  name: Schema.optionalKey(Schema.String),
  preferred_username: Schema.optionalKey(Schema.String),
})

/**
 * @category models
 * @since 0.1.0
 */
export type IdentityClaims = typeof IdentityClaims.Type

/**
 * The members that may be taken from the id_token (besides `iss` and `sub`, which only match).
 *
 * @category constants
 * @since 0.1.0
 */
export const allowList = ["email", "email_verified", "name", "preferred_username"] as const

const members: ReadonlySet<string> = new Set(Object.keys(IdentityClaims.fields))

/**
 * Whether `value` (parsed JSON) is already `IdentityClaims` exactly as the Schema decodes it.
 *
 * @category schemas
 * @since 0.1.0
 */
export const isDecoded = (value: unknown): value is IdentityClaims =>
  Decoded.plain(value) &&
  Decoded.only(value, members) &&
  Decoded.string(value["iss"]) &&
  Decoded.string(value["sub"]) &&
  Decoded.optional(value, "email", Decoded.string) &&
  Decoded.optional(value, "email_verified", (v) => typeof v === "boolean" || typeof v === "string") &&
  Decoded.optional(value, "name", Decoded.string) &&
  Decoded.optional(value, "preferred_username", Decoded.string)

/** RFC 5321 bounds an address at 320 bytes; a display name or username gets as much. */
const maxBytes = 320
const utf8 = new TextEncoder()
const bounded = (value: unknown): value is string =>
  typeof value === "string" && value !== "" && utf8.encode(value).length <= maxBytes

/**
 * The identity claims to keep from a verified id_token's payload: `iss`, `sub` and the allow-listed
 * members that are non-empty strings of at most 320 UTF-8 bytes (`email_verified`: a boolean or a
 * string). An email is kept only with its `email_verified`, as the IdP sent them together.
 * `undefined` when `iss` or `sub` is missing or there is nothing to keep.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromIdToken = (claims: Readonly<Record<string, unknown>>): IdentityClaims | undefined => {
  const { iss, sub, email, email_verified, name, preferred_username } = claims
  if (typeof iss !== "string" || iss === "" || typeof sub !== "string" || sub === "") return undefined
  const out: { -readonly [K in keyof IdentityClaims]: IdentityClaims[K] } = { iss, sub }
  if (bounded(email)) {
    out.email = email
    if (typeof email_verified === "boolean" || typeof email_verified === "string")
      out.email_verified = email_verified
  }
  if (bounded(name)) out.name = name
  if (bounded(preferred_username)) out.preferred_username = preferred_username
  return Object.keys(out).length > 2 ? out : undefined
}

/** A member the access token carries: present with any value other than `undefined`. */
const has = (claims: VerifiedClaims, key: string): boolean => claims[key] !== undefined

/**
 * The verified access-token claims with the identity members they lack taken from `identity`,
 * when `identity` was stated by the same issuer about the same subject; otherwise `claims`
 * itself. `email` and `email_verified` are one pair: taken only when the access token has neither,
 * so an access token's unverified email is never marked verified by the id_token. No other member
 * is ever added or changed — in particular none that scopes are resolved from.
 *
 * @category utils
 * @since 0.1.0
 */
export const withFallback = (
  claims: VerifiedClaims,
  identity: IdentityClaims | undefined,
): VerifiedClaims => {
  if (identity === undefined || claims.sub !== identity.sub || claims.iss !== identity.iss) return claims
  const added: Record<string, unknown> = {}
  if (identity.email !== undefined && !has(claims, "email") && !has(claims, "email_verified")) {
    added["email"] = identity.email
    if (identity.email_verified !== undefined) added["email_verified"] = identity.email_verified
  }
  if (identity.name !== undefined && !has(claims, "name")) added["name"] = identity.name
  if (identity.preferred_username !== undefined && !has(claims, "preferred_username"))
    added["preferred_username"] = identity.preferred_username
  for (const _ in added) return { ...claims, ...added }
  return claims
}

/**
 * The identity the access rules read at sign-in: the verified access token's claims overlaid with
 * the verified id_token's (where providers put `email`, `hd`, `tid`, `groups`). `email` and
 * `email_verified` are one pair: both from the id_token when it states either, else both from the
 * access token — so one token's `email_verified: true` never vouches for the other's email.
 *
 * @category utils
 * @since 0.1.0
 */
export const forSignIn = (
  claims: Readonly<Record<string, unknown>>,
  idToken: Readonly<Record<string, unknown>> | undefined,
): Readonly<Record<string, unknown>> => {
  if (idToken === undefined) return claims
  const pairFromIdToken = idToken["email"] !== undefined || idToken["email_verified"] !== undefined
  const { email, email_verified, ...rest } = claims
  const pair = pairFromIdToken
    ? {}
    : {
        ...(email === undefined ? {} : { email }),
        ...(email_verified === undefined ? {} : { email_verified }),
      }
  return { ...rest, ...idToken, ...pair }
}

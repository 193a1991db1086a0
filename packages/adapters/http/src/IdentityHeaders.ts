/**
 * The identity headers a protected resource receives: which caller header names the proxy owns
 * (and so drops), and the `X-Auth-Request-*` headers it adds for an authorized token, with values
 * a target can decode without ambiguity and an email only as core's `VerifiedEmail` counts it (the
 * one rule the MCP policy and the access rules also apply).
 *
 * Pure functions over strings and an `AccessToken`; no Web or Node API. The one rule behind the
 * Node gateway (`ReverseProxy`, its fast path) and any Web `fetch` deployment's forwarder.
 *
 * @see [OpenID Connect Core §5.1 (email_verified)](https://openid.net/specs/openid-connect-core-1_0.html#StandardClaims)
 * @since 0.1.0
 */
import { type AccessToken, VerifiedEmail } from "@oidc-proxy/core"

/** Names the proxy owns besides the `x-auth-request-` family (folded, see `foldName`). */
const reservedNames = new Set([
  "x-forwarded-access-token",
  "x-forwarded-user",
  "x-forwarded-email",
  "x-forwarded-preferred-username",
  "x-forwarded-groups",
])

/**
 * A header name as CGI, WSGI, PHP and nginx (`underscores_in_headers`) may see it, up to their own
 * prefix: case-insensitive, every run of characters other than letters and digits one `-`, none at
 * either end. `X_Auth_Request_User` and `x-auth-request-user` both reach a WSGI target as
 * `HTTP_X_AUTH_REQUEST_USER`; PHP turns the `.` of `HTTP_X.AUTH.REQUEST.USER` into `_`, and older
 * Apache CGI every character other than a letter or digit. So they are all one name here.
 */
const foldName = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")

/** Every reserved name begins with `x` before any letter or digit: most names stop here. */
const mayBeReserved = /^[^a-z0-9]*x/i

/**
 * Whether a caller's header `name` is one of the identity names the proxy owns: the
 * `X-Auth-Request-*` family, `X-Forwarded-Access-Token`, `-User`, `-Email`,
 * `-Preferred-Username` and `-Groups`, in any case and with any run of other characters than
 * letters and digits (`_`, `.`, `~`, `--`, …) for any `-`. Such a header is dropped, never forwarded.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isReservedIdentityName = (name: string): boolean => {
  if (!mayBeReserved.test(name)) return false
  const folded = foldName(name)
  return folded.startsWith("x-auth-request-") || reservedNames.has(folded)
}

/** A character an identity value carries as is: visible ASCII other than `%`. */
const plainChar = /^[\x21-\x24\x26-\x7e]*$/

/** A lone UTF-16 surrogate (`encodeURIComponent` would throw on it). */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** The three bytes (generalized UTF-8, "WTF-8") of a lone surrogate: distinct, refused by UTF-8. */
const encodeSurrogate = (unit: string): string => {
  const u = unit.charCodeAt(0)
  const bytes = [0xe0 | (u >> 12), 0x80 | ((u >> 6) & 0x3f), 0x80 | (u & 0x3f)]
  return bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join("")
}

/**
 * An identity value (subject, email) as a header value: as is when every character is visible
 * ASCII other than `%`; otherwise percent-encoded UTF-8 (`encodeURIComponent`, which also encodes
 * `%`, space and every control character). A value contains `%` exactly when it was encoded, so a
 * target decodes without ambiguity (`decodeURIComponent` when it contains `%`), and two subjects
 * never arrive as one string. Never a header the HTTP client refuses (a 502), never a split header.
 * A lone surrogate (not Unicode, possible in JSON) is encoded as its generalized UTF-8 bytes, which
 * keeps values distinct and which a strict UTF-8 decoder refuses.
 *
 * @category constructors
 * @since 0.1.0
 */
export const identityValue = (value: string): string => {
  if (plainChar.test(value)) return value
  let out = ""
  let from = 0
  for (const match of value.matchAll(loneSurrogate)) {
    out += encodeURIComponent(value.slice(from, match.index)) + encodeSurrogate(match[0])
    from = match.index + 1
  }
  return out + encodeURIComponent(value.slice(from))
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends VerifiedEmail.Options {}

/**
 * The identity headers for `token` (lower-case names): `x-auth-request-user` (the subject),
 * `x-auth-request-email` (the email `VerifiedEmail.of` counts: a plausible addr-spec with the
 * boolean `email_verified: true`, or any plausible one when `trustUnverifiedEmail`),
 * `x-auth-request-scopes` (space-separated) and `x-auth-request-client-id`. Subject and email as
 * `identityValue` encodes them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const of = (token: AccessToken.AccessToken, options: Options = {}): Record<string, string> => {
  const headers: Record<string, string> = { "x-auth-request-user": identityValue(token.subject) }
  const email = VerifiedEmail.of(token.claims, options)
  if (email !== undefined) headers["x-auth-request-email"] = identityValue(email)
  headers["x-auth-request-scopes"] = token.scopes.join(" ")
  headers["x-auth-request-client-id"] = token.client_id
  return headers
}

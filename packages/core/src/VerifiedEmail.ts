/**
 * The caller's email as every part of the proxy counts it: the identity header a target receives
 * (`X-Auth-Request-Email`), the MCP policy's caller and the sign-in access rules all read it here,
 * so none of them can accept an email another refuses.
 *
 * Pure core. An email counts only when it is a plausible addr-spec (see `isPlausible`) and the IdP
 * says it is verified with the boolean `email_verified: true` — not the string `"true"`, which no
 * specification defines and which a claims mapper may write for any value — unless the gateway
 * trusts unverified emails (`trustUnverifiedEmail`, for IdPs that never send the claim).
 *
 * @see [OpenID Connect Core §5.1 (email, email_verified)](https://openid.net/specs/openid-connect-core-1_0.html#StandardClaims)
 * @see [RFC 5321 §4.5.3.1.3](https://www.rfc-editor.org/rfc/rfc5321#section-4.5.3.1.3) (path length)
 * @since 0.1.0
 */

/** The longest email counted, in UTF-8 bytes: 64 for the local part, `@`, 255 for the domain. */
export const maxBytes = 320

/**
 * Control characters (C0, DEL, C1), format characters (bidi overrides, zero-width spaces), any
 * whitespace or separator, and lone surrogates (not UTF-8). Any of them lets one email read as
 * another, or split a header or a log line.
 */
const refused =
  /[\p{Cc}\p{Cf}\p{Z}\s]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/u

const utf8 = new TextEncoder()

/**
 * Whether `email` is a plausible addr-spec: exactly one `@` with a non-empty local part and
 * domain, no control, format or whitespace character, at most `maxBytes` UTF-8 bytes. Quoted local
 * parts (`"a@b"@example.com`) are refused: the domain must be what follows the only `@`.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isPlausible = (email: string): boolean => {
  const at = email.indexOf("@")
  return (
    at > 0 &&
    at < email.length - 1 &&
    email.indexOf("@", at + 1) === -1 &&
    email.length <= maxBytes &&
    !refused.test(email) &&
    utf8.encode(email).length <= maxBytes
  )
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** `true`: count the email without `email_verified: true`. Default `false`. */
  readonly trustUnverifiedEmail?: boolean | undefined
}

/**
 * The email of these verified claims as the IdP sent it (case kept), or `undefined` when there is
 * none that counts: not a plausible addr-spec, or not verified (the boolean `true`) and not trusted.
 *
 * @category constructors
 * @since 0.1.0
 */
export const of = (claims: Readonly<Record<string, unknown>>, options: Options = {}): string | undefined => {
  const email = claims["email"]
  if (typeof email !== "string" || !isPlausible(email)) return undefined
  return claims["email_verified"] === true || options.trustUnverifiedEmail === true ? email : undefined
}

/**
 * The domain of an email `isPlausible` accepts, lower-case: what follows its only `@`.
 *
 * @category utils
 * @since 0.1.0
 */
export const domainOf = (email: string): string => email.slice(email.indexOf("@") + 1).toLowerCase()

/**
 * A test of an email against a list of domains (`example.com`; a leading `@` is ignored; case is
 * not significant). Exact domains only: `sub.example.com` is not in `example.com`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const inDomains = (domains: ReadonlyArray<string>): ((email: string) => boolean) => {
  const set = new Set(domains.map((d) => d.toLowerCase().replace(/^@/, "")))
  return (email) => isPlausible(email) && set.has(domainOf(email))
}

/**
 * Who may sign in: allowed emails, email domains, tenants (`tid`), hosted domains (`hd`), groups
 * (`groups`, `cognito:groups`) and organizations (`orgs`, GitHub), checked once at the upstream
 * callback.
 *
 * Pure core. Each list that is set is a requirement, and every requirement must hold (a user must
 * be in an allowed tenant *and* in an allowed group). `emails` and `email_domains` form one
 * requirement: the email is allowed when either list names it. An email counts only as
 * `VerifiedEmail.of` counts it: a plausible addr-spec the IdP says is verified (the boolean
 * `email_verified: true`; `trustUnverifiedEmail` does not apply at sign-in); a provider that never
 * says so (Entra) cannot pass an email rule, so restrict it by tenant or group instead. Comparisons of emails, domains and
 * hosted domains ignore case, and so do organizations (GitHub logins are case-insensitive); tenants
 * and groups are compared exactly.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as VerifiedEmail from "./VerifiedEmail.ts"

const List = Schema.Array(Schema.NonEmptyString).pipe(Schema.withDecodingDefaultKey(Effect.succeed([])))

/**
 * @category schemas
 * @since 0.1.0
 */
export const AccessConfig = Schema.Struct({
  /** Allowed email addresses (verified emails only). Default: any. */
  emails: List,
  /** Allowed email domains, e.g. `example.com` (verified emails only; no subdomains). Default: any. */
  email_domains: List,
  /** Allowed tenant ids (Entra `tid`). Default: any. Recommendation: set it for `common`. */
  tenants: List,
  /** Allowed Google Workspace domains (the `hd` claim). Default: any. */
  hosted_domains: List,
  /** Groups of which the user must be in at least one (`groups` or `cognito:groups`). Default: any. */
  groups: List,
  /**
   * Organizations (GitHub logins) of which the user must be a member of at least one: the `orgs`
   * claim, which the GitHub verifier fills from `GET /user/orgs` (needs the `read:org` scope), up
   * to 1,000; past that it sets `orgs_incomplete`, and a user in none of those read is refused
   * with a description that says the list was partial.
   * Default: any.
   */
  organizations: List,
})

/**
 * @category models
 * @since 0.1.0
 */
export type AccessConfig = typeof AccessConfig.Type

/**
 * Whether any rule is set (so the callback needs the identity claims).
 *
 * @category utils
 * @since 0.1.0
 */
export const isRestricted = (rules: AccessConfig): boolean =>
  rules.emails.length + rules.email_domains.length + rules.tenants.length > 0 ||
  rules.hosted_domains.length + rules.groups.length + rules.organizations.length > 0

const lower = (values: ReadonlyArray<string>) => new Set(values.map((v) => v.toLowerCase()))

const strings = (value: unknown): ReadonlyArray<string> =>
  typeof value === "string"
    ? [value]
    : Array.isArray(value)
      ? value.filter((v): v is string => typeof v === "string")
      : []

const emailAllowed = (rules: AccessConfig, claims: Readonly<Record<string, unknown>>): boolean => {
  if (rules.emails.length === 0 && rules.email_domains.length === 0) return true
  const email = VerifiedEmail.of(claims)?.toLowerCase()
  if (email === undefined) return false
  return lower(rules.emails).has(email) || VerifiedEmail.inDomains(rules.email_domains)(email)
}

/**
 * Why the identity with these (verified) claims may not sign in, or `undefined` when it may. The
 * reason names the rule, never the user's values.
 *
 * @category utils
 * @since 0.1.0
 */
export const denial = (
  rules: AccessConfig,
  claims: Readonly<Record<string, unknown>>,
): string | undefined => {
  if (!emailAllowed(rules, claims)) return "its verified email is not on the allowed list"
  if (
    rules.tenants.length > 0 &&
    !(typeof claims["tid"] === "string" && rules.tenants.includes(claims["tid"]))
  )
    return "its tenant is not on the allowed list"
  if (
    rules.hosted_domains.length > 0 &&
    !(typeof claims["hd"] === "string" && lower(rules.hosted_domains).has(claims["hd"].toLowerCase()))
  )
    return "its hosted domain is not on the allowed list"
  if (rules.groups.length > 0) {
    const member = [...strings(claims["groups"]), ...strings(claims["cognito:groups"])]
    if (!member.some((g) => rules.groups.includes(g))) return "it is in none of the allowed groups"
  }
  if (rules.organizations.length > 0) {
    const allowed = lower(rules.organizations)
    if (!strings(claims["orgs"]).some((o) => allowed.has(o.toLowerCase())))
      // A partial list (more organizations than the verifier reads) cannot tell "none": say so.
      return claims["orgs_incomplete"] === true
        ? "none of the organizations read is allowed, and it is in more than the proxy reads (1,000)"
        : "it is in none of the allowed organizations"
  }
  return undefined
}

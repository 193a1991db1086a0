/**
 * Templated issuers: Entra's multi-tenant endpoints (`common`, `organizations`) publish the issuer
 * `https://login.microsoftonline.com/{tenantid}/v2.0`, and each token's `iss` is that template with
 * the token's own `tid` in place of `{tenantid}`.
 *
 * Pure core. Only a `tid` that is a GUID is substituted, so a token cannot steer the expected
 * issuer to another path (a `tid` of `x/../other` or the literal placeholder is refused). Which
 * tenants may sign in is an access rule (`ProxyConfig.access.tenants`), checked at the callback.
 *
 * @see [Microsoft identity platform: validate the issuer](https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer)
 * @since 0.1.0
 */

/**
 * The placeholder a templated issuer carries.
 *
 * @category constants
 * @since 0.1.0
 */
export const placeholder = "{tenantid}"

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Whether `issuer` is a template (contains `{tenantid}` exactly once).
 *
 * @category utils
 * @since 0.1.0
 */
export const isTemplate = (issuer: string): boolean => issuer.split(placeholder).length === 2

/**
 * Whether `value` is a tenant id: a GUID in its lower-case canonical form, as Entra writes `tid`.
 *
 * @category utils
 * @since 0.1.0
 */
export const isTenantId = (value: unknown): value is string => typeof value === "string" && guid.test(value)

/**
 * The issuer a token with claims `claims` must carry under `template`: the template with the
 * token's `tid` substituted, or `undefined` when `tid` is absent or not a GUID (the token is then
 * refused). A template without the placeholder is returned as is.
 *
 * @category utils
 * @since 0.1.0
 */
export const resolve = (template: string, claims: { readonly tid?: unknown }): string | undefined => {
  if (!isTemplate(template)) return template
  return isTenantId(claims.tid) ? template.replace(placeholder, claims.tid) : undefined
}

/**
 * Whether `issuer` is `template` with some tenant id (a GUID) in place of `{tenantid}`: what an
 * authorization response's `iss` (RFC 9207) may be under a templated issuer, before any token says
 * which tenant it is.
 *
 * @category utils
 * @since 0.1.0
 */
export const matches = (template: string, issuer: string): boolean => {
  if (!isTemplate(template)) return issuer === template
  const [before, after] = template.split(placeholder) as [string, string]
  return (
    issuer.startsWith(before) &&
    issuer.endsWith(after) &&
    isTenantId(issuer.slice(before.length, issuer.length - after.length))
  )
}

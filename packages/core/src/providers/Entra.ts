/**
 * Microsoft Entra ID (v2 endpoints) as the upstream. The tenant is a tenant id (GUID) or one of
 * `common`, `organizations`, `consumers`. For the multi-tenant ones the discovery document's issuer
 * is the template `https://login.microsoftonline.com/{tenantid}/v2.0`, and each token's `iss` is
 * checked against it with the token's own `tid` (core's `TenantIssuer`); `consumers` admits only
 * the personal-account tenant. Tenant names (`contoso.onmicrosoft.com`) are refused: discovery
 * names the tenant by its id, so configure that.
 *
 * Pure core. Microsoft Graph access tokens cannot be verified by anyone but Graph, so without an
 * API scope the id_token proves the identity (id_token mode). With API scopes (`api://…`, exposed
 * by an app registration whose manifest sets `requestedAccessTokenVersion: 2`) the access token is
 * for that API and is verified (access_token mode) with the API's application id as `aud`: the
 * GUID in `api://{guid}/…`, or `audience` when the App ID URI is another name.
 *
 * @see [Microsoft identity platform: access tokens](https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens)
 * @see [OpenID Connect on the Microsoft identity platform](https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc)
 * @since 0.1.0
 */
import * as TenantIssuer from "../TenantIssuer.ts"
import type { Common, Fragment } from "./Fragment.ts"
import { baseUrl, clientId, InvalidPreset } from "./Fragment.ts"

/**
 * The tenant id of personal Microsoft accounts, the only one `consumers` issues tokens for.
 *
 * @category constants
 * @since 0.1.0
 */
export const consumersTenant = "9188040d-6c67-4c5b-b112-36a304b66dad"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** A tenant id (GUID), or `common`, `organizations` or `consumers`. */
  readonly tenant: string
  /** Scopes of your own API (`api://…/scope`); when set, access tokens are verified. */
  readonly api_scopes?: ReadonlyArray<string>
  /** The API's application (client) id, when the App ID URI is not `api://{that id}`. */
  readonly audience?: string
  /** Tenants whose users may sign in (`tid`). Recommendation: set it for `common`/`organizations`. */
  readonly tenants?: ReadonlyArray<string>
  /** The login host, for national clouds. Default `https://login.microsoftonline.com`. */
  readonly authority?: string
}

const multiTenant = new Set(["common", "organizations", "consumers"])

const fail = (option: string, description: string) =>
  new InvalidPreset({ preset: "entra", option, description })

const audienceOf = (options: Options, apiScopes: ReadonlyArray<string>): string | undefined => {
  if (apiScopes.length === 0) return undefined
  if (options.audience !== undefined) return options.audience
  const match = /^api:\/\/([^/]+)\//.exec(apiScopes[0] as string)
  if (match !== null && TenantIssuer.isTenantId(match[1])) return match[1]
  throw fail("audience", "is required when the API scope is not api://{application id}/…")
}

/**
 * Throws `InvalidPreset` for a tenant that is neither a GUID nor a multi-tenant keyword, or an API
 * scope without a derivable audience.
 *
 * @category constructors
 * @since 0.1.0
 */
export const entra = (options: Options): Fragment => {
  const tenant = options.tenant
  if (!multiTenant.has(tenant) && !TenantIssuer.isTenantId(tenant))
    throw fail("tenant", "must be a tenant id (a GUID in lower case), common, organizations or consumers")
  const apiScopes = options.api_scopes ?? []
  for (const scope of apiScopes)
    if (!scope.startsWith("api://"))
      throw fail("api_scopes", `must be api://… scopes (got ${JSON.stringify(scope)})`)
  const authority = baseUrl("entra", "authority", options.authority ?? "https://login.microsoftonline.com")
  // `consumers` is one tenant: its discovery document names it by id, without a template.
  const segment = tenant === "consumers" ? consumersTenant : tenant
  const issuer = options.issuer ?? `${authority}/${segment}/v2.0`
  const templated = tenant === "common" || tenant === "organizations"
  const audience = audienceOf(options, apiScopes)
  const tenants = options.tenants ?? []
  return {
    verification_mode: audience === undefined ? "id_token" : "access_token",
    upstream: {
      issuer,
      // The discovery issuer names the tenant segment as the template.
      ...(templated
        ? { issuer_template: issuer.replace(`/${tenant}/`, `/${TenantIssuer.placeholder}/`) }
        : {}),
      ...clientId(options),
      ...(audience === undefined ? {} : { audience }),
      scopes: ["openid", "profile", "email", "offline_access", ...apiScopes],
    },
    ...(tenants.length > 0 ? { access: { tenants } } : {}),
  }
}

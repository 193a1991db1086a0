/**
 * SAP Cloud Identity Services (Identity Authentication) as the upstream: the issuer is the tenant's
 * host, and the access token it issues is the same JWT as the id_token, so the id_token proves the
 * identity (id_token mode) and the scopes are those recorded at sign-in.
 *
 * Pure core.
 *
 * @see [SAP Cloud Identity Services: OpenID Connect](https://help.sap.com/docs/cloud-identity-services/cloud-identity-services/openid-connect)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { clientId, host } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** The tenant's host, e.g. `example.accounts.ondemand.com`. */
  readonly tenant_host: string
}

/**
 * Throws `InvalidPreset` for a tenant host that is not a host name.
 *
 * @category constructors
 * @since 0.1.0
 */
export const sapCis = (options: Options): Fragment => ({
  verification_mode: "id_token",
  upstream: {
    issuer: options.issuer ?? `https://${host("sap-cis", "tenant_host", options.tenant_host)}`,
    ...clientId(options),
    scopes: ["openid", "email", "profile"],
  },
})

/**
 * Auth0 as the upstream. Auth0 issues a JWT access token only when the authorization request names
 * an API with `audience`; without it the access token is opaque. The issuer is
 * `https://{domain}/` (with the trailing slash, as Auth0 writes `iss`).
 *
 * Pure core. Scopes are read from the access token's `scope` claim. Auth0's `permissions` claim
 * (RBAC with "Add Permissions in the Access Token") does not count as scopes: it lists everything
 * the user may do, whatever the client asked for, whereas `scope` is what this client was granted
 * (with RBAC on, Auth0 already limits it to the user's permissions).
 *
 * @see [Auth0: Get access tokens](https://auth0.com/docs/secure/tokens/access-tokens/get-access-tokens)
 * @see [Auth0: Enable RBAC for APIs](https://auth0.com/docs/get-started/apis/enable-role-based-access-control-for-apis)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { clientId, host, InvalidPreset } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** The tenant's domain, e.g. `example.eu.auth0.com` (or a custom domain). */
  readonly domain: string
  /** The API identifier registered in Auth0 (APIs → Identifier); the access token's `aud`. */
  readonly audience: string
}

/**
 * Throws `InvalidPreset` for a domain that is not a host name, or a missing audience.
 *
 * @category constructors
 * @since 0.1.0
 */
export const auth0 = (options: Options): Fragment => {
  const domain = host("auth0", "domain", options.domain)
  if (options.audience === "")
    throw new InvalidPreset({
      preset: "auth0",
      option: "audience",
      description: "is required (the API identifier)",
    })
  return {
    verification_mode: "access_token",
    upstream: {
      issuer: options.issuer ?? `https://${domain}/`,
      ...clientId(options),
      audience: options.audience,
      scopes: ["openid", "profile", "email", "offline_access"],
      extra_authorize_params: { audience: options.audience },
    },
  }
}

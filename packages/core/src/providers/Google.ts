/**
 * Google as the upstream: discovery at `https://accounts.google.com`. Google's access tokens are
 * opaque, so the id_token proves the identity (id_token mode) and the scopes are those recorded at
 * sign-in. A refresh token comes only with `access_type=offline`, and again on a later sign-in only
 * with `prompt=consent` (Google does not know `offline_access`).
 *
 * Pure core. Allowed Workspace domains are checked on the id_token's `hd` claim at the callback;
 * with one domain it is also sent as the `hd` authorization parameter, which only preselects the
 * account (it is a hint, not a check).
 *
 * @see [Google: OpenID Connect](https://developers.google.com/identity/openid-connect/openid-connect)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { clientId } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** Google Workspace domains whose users may sign in (the `hd` claim). Default: any account. */
  readonly hosted_domains?: ReadonlyArray<string>
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const google = (options: Options = {}): Fragment => {
  const domains = options.hosted_domains ?? []
  return {
    verification_mode: "id_token",
    upstream: {
      issuer: options.issuer ?? "https://accounts.google.com",
      ...clientId(options),
      scopes: ["openid", "email", "profile"],
      extra_authorize_params: {
        access_type: "offline",
        prompt: "consent",
        ...(domains.length === 1 ? { hd: domains[0] as string } : {}),
      },
    },
    ...(domains.length > 0 ? { access: { hosted_domains: domains } } : {}),
  }
}

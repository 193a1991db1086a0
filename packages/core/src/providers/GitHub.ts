/**
 * GitHub as the upstream (an OAuth App or a GitHub App): plain OAuth 2.0 without discovery,
 * OpenID Connect or JWTs. Access tokens are opaque and verified by `GET /user` (the subject is the
 * numeric `id`, which never changes; the `login` can), scopes are what GitHub reports in
 * `X-OAuth-Scopes`, the email is the primary verified address from `GET /user/emails`, and
 * revocation goes through the application-token API (`upstream.github_api_url`).
 *
 * Pure core. There is no `openid` scope and no id_token (so no nonce); the default scopes are
 * `read:user user:email`, plus `read:org` when organizations are allowed. Refresh happens only for
 * GitHub Apps with expiring user tokens (their token answer carries `refresh_token` and
 * `expires_in`); an OAuth App's token has neither, so its session ends when the proxy's assumed
 * lifetime of the upstream token does.
 *
 * @see [GitHub: Authorizing OAuth apps](https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps)
 * @see [GitHub: Refreshing user access tokens](https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { baseUrl, clientId } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /**
   * GitHub's web base URL, where the authorize and token endpoints live (GitHub Enterprise Server,
   * a local stand-in). Default `https://github.com`; also the issuer string unless `issuer` is set.
   */
  readonly url?: string
  /** GitHub's REST API base URL. Default `https://api.github.com`. */
  readonly api_url?: string
  /** Organizations (logins) whose members may sign in; adds the `read:org` scope. Default: any. */
  readonly organizations?: ReadonlyArray<string>
}

/**
 * Throws `InvalidPreset` for a `url` or `api_url` that is not an http(s) URL.
 *
 * @category constructors
 * @since 0.1.0
 */
export const github = (options: Options = {}): Fragment => {
  const web = baseUrl("github", "url", options.url ?? "https://github.com")
  const api = baseUrl("github", "api_url", options.api_url ?? "https://api.github.com")
  const orgs = options.organizations ?? []
  return {
    verification_mode: "access_token",
    upstream: {
      issuer: options.issuer ?? web,
      ...clientId(options),
      scopes: ["read:user", "user:email", ...(orgs.length > 0 ? ["read:org"] : [])],
      authorization_endpoint: `${web}/login/oauth/authorize`,
      token_endpoint: `${web}/login/oauth/access_token`,
      userinfo_endpoint: `${api}/user`,
      verification: "userinfo",
      subject_claim: "id",
      scopes_header: "X-OAuth-Scopes",
      github_api_url: api,
    },
    ...(orgs.length > 0 ? { access: { organizations: orgs } } : {}),
  }
}

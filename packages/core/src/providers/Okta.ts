/**
 * Okta as the upstream, through a custom authorization server (`https://{domain}/oauth2/{id}`,
 * `default` unless told) or the org authorization server (`https://{domain}`).
 *
 * Pure core. A custom server's access tokens are JWTs for your API (`aud`: the server's audience,
 * `api://default` for the default server) with the scopes as the `scp` array, which core reads
 * (`Scopes.fromClaims`): access_token mode. The org server's access tokens are meant for Okta's own
 * APIs only and must not be validated by anyone else, so there the id_token proves the identity
 * (id_token mode).
 *
 * @see [Okta: Authorization servers](https://developer.okta.com/docs/concepts/auth-servers/)
 * @see [Okta: Validate access tokens](https://developer.okta.com/docs/guides/validate-access-tokens/)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { clientId, host, InvalidPreset } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** The Okta domain, e.g. `example.okta.com`. */
  readonly domain: string
  /** A custom authorization server's id (`default`), or `null` for the org server. Default `default`. */
  readonly authorization_server?: string | null
  /** The custom server's audience. Default `api://default` for the default server. */
  readonly audience?: string
}

/**
 * Throws `InvalidPreset` for a domain that is not a host name, a bad server id, or a custom server
 * other than `default` without its audience.
 *
 * @category constructors
 * @since 0.1.0
 */
export const okta = (options: Options): Fragment => {
  const domain = host("okta", "domain", options.domain)
  const server = options.authorization_server === undefined ? "default" : options.authorization_server
  const scopes = ["openid", "profile", "email", "offline_access"]
  if (server === null)
    return {
      verification_mode: "id_token",
      upstream: { issuer: options.issuer ?? `https://${domain}`, ...clientId(options), scopes },
    }
  if (!/^[A-Za-z0-9]+$/.test(server))
    throw new InvalidPreset({
      preset: "okta",
      option: "authorization_server",
      description: "must be a server id such as default",
    })
  const audience = options.audience ?? (server === "default" ? "api://default" : undefined)
  if (audience === undefined)
    throw new InvalidPreset({
      preset: "okta",
      option: "audience",
      description: "is required for a custom authorization server other than default",
    })
  return {
    verification_mode: "access_token",
    upstream: {
      issuer: options.issuer ?? `https://${domain}/oauth2/${server}`,
      ...clientId(options),
      audience,
      scopes,
    },
  }
}

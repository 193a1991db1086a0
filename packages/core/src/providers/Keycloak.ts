/**
 * Keycloak as the upstream: the realm's issuer `{baseUrl}/realms/{realm}`, access tokens as JWTs
 * with the scopes as a space-separated `scope` string and the client in `azp`.
 *
 * Pure core. Keycloak puts a client into an access token's `aud` only through an audience mapper;
 * the preset expects the proxy's own client id there (add an "Audience" mapper for it, see the
 * README), so tokens minted for another client of the realm are refused. `audience` overrides it.
 *
 * @see [Keycloak: Audience support](https://www.keycloak.org/docs/latest/server_admin/#audience-support)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { baseUrl, clientId, InvalidPreset } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  /** The server's base URL, e.g. `https://sso.example.com` (with `/auth` on Keycloak before 17). */
  readonly base_url: string
  readonly realm: string
  /** Expected `aud` of access tokens. Default: `client_id`. */
  readonly audience?: string
}

/**
 * Throws `InvalidPreset` for a bad base URL or realm, or when neither `audience` nor `client_id`
 * is given.
 *
 * @category constructors
 * @since 0.1.0
 */
export const keycloak = (options: Options): Fragment => {
  const base = baseUrl("keycloak", "base_url", options.base_url)
  if (!/^[\w.-]+$/.test(options.realm))
    throw new InvalidPreset({ preset: "keycloak", option: "realm", description: "must be a realm name" })
  const audience = options.audience ?? options.client_id
  if (audience === undefined)
    throw new InvalidPreset({
      preset: "keycloak",
      option: "audience",
      description: "or client_id is required",
    })
  return {
    verification_mode: "access_token",
    upstream: {
      issuer: options.issuer ?? `${base}/realms/${encodeURIComponent(options.realm)}`,
      ...clientId(options),
      audience,
      scopes: ["openid", "profile", "email", "offline_access"],
    },
  }
}

/**
 * The `offline_access` scope: it asks for a refresh token, it grants no access to a resource (MCP
 * SEP-2207). So it is never required for access and never named in a challenge, always accepted
 * at `/authorize` and at the callback whatever the scope policy, and asked of the upstream only
 * for clients allowed refresh tokens and only when the upstream offers it.
 *
 * Pure core. A refresh token is still issued only to clients allowed the `refresh_token` grant.
 *
 * @see [OIDC Core §11](https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess)
 * @since 0.1.0
 */
import * as Scopes from "./Scopes.ts"

/**
 * @category constants
 * @since 0.1.0
 */
export const scope = "offline_access"

/**
 * `true` for `offline_access`.
 *
 * @category utils
 * @since 0.1.0
 */
export const is = (s: string): boolean => s === scope

/**
 * The scopes that grant access: `scopes` without `offline_access`. What access requires, what a
 * challenge names and what the scope policy checks.
 *
 * @category utils
 * @since 0.1.0
 */
export const without = (scopes: Scopes.ScopeSet): Scopes.ScopeSet => scopes.filter((s) => s !== scope)

/**
 * The upstream request's scopes: `wanted`, plus `offline_access` when the client may use refresh
 * tokens (the proxy needs an upstream refresh token to keep such a session alive), minus
 * `offline_access` when the upstream advertises scopes without it.
 *
 * @category utils
 * @since 0.1.0
 */
export const forUpstream = (
  wanted: Scopes.ScopeSet,
  clientMayRefresh: boolean,
  upstreamSupported: ReadonlyArray<string> | undefined,
): Scopes.ScopeSet => {
  const all = Scopes.union(wanted, clientMayRefresh ? [scope] : [])
  return upstreamSupported === undefined || upstreamSupported.includes(scope) ? all : without(all)
}

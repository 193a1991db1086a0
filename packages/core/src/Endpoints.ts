/**
 * The proxy's URLs, derived once from its issuer: endpoints live below the issuer's path, the
 * well-known documents at the host root with the path inserted (RFC 8414 §3.1, RFC 9728 §3.1).
 *
 * Pure core.
 *
 * @since 0.1.0
 */
import type { ProxyConfig } from "./ProxyConfig.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Endpoints {
  readonly issuer: string
  readonly authorization: string
  readonly token: string
  readonly registration: string
  readonly revocation: string
  readonly consent: string
  readonly callback: string
  readonly jwks: string
  /** Path-inserted RFC 8414 metadata URL (`/.well-known/oauth-authorization-server{issuer path}`). */
  readonly authorizationServerMetadata: string
  /** Path-inserted RFC 9728 metadata URL (`/.well-known/oauth-protected-resource{resource path}`). */
  readonly protectedResourceMetadata: string
}

const trimSlash = (s: string) => s.replace(/\/+$/, "")

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Pick<ProxyConfig, "issuer" | "resource" | "callback_path">): Endpoints => {
  const issuer = trimSlash(config.issuer)
  const issuerUrl = new URL(issuer)
  const issuerPath = trimSlash(issuerUrl.pathname)
  const resourceUrl = new URL(config.resource)
  const resourcePath = resourceUrl.pathname === "/" ? "" : trimSlash(resourceUrl.pathname)
  return {
    issuer,
    authorization: `${issuer}/authorize`,
    token: `${issuer}/token`,
    registration: `${issuer}/register`,
    revocation: `${issuer}/revoke`,
    consent: `${issuer}/consent`,
    callback: `${issuer}${config.callback_path}`,
    jwks: `${issuer}/jwks`,
    authorizationServerMetadata: `${issuerUrl.origin}/.well-known/oauth-authorization-server${issuerPath}`,
    protectedResourceMetadata: `${resourceUrl.origin}/.well-known/oauth-protected-resource${resourcePath}`,
  }
}

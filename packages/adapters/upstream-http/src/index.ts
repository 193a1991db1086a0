/**
 * @oidc-proxy/upstream-http — the upstream IdP over HTTP: discovery, the cached JWKS and the
 * token-endpoint client, implementing core's `UpstreamClient` and `Jwks` ports.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Discovery from "./Discovery.ts"
/** @since 0.1.0 */
export * as HttpJwks from "./HttpJwks.ts"
/** @since 0.1.0 */
export * as HttpTokenVerifier from "./HttpTokenVerifier.ts"
/** @since 0.1.0 */
export * as TokenClient from "./TokenClient.ts"
/** @since 0.1.0 */
export * as TokenExchange from "./TokenExchange.ts"
/** @since 0.1.0 */
export * as UpstreamHttp from "./UpstreamHttp.ts"

/**
 * @oidc-proxy/http — the proxy's HTTP surface as a Web `fetch` handler: OAuth endpoints, consent
 * page, and the bearer check in front of the protected resource.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Cors from "./Cors.ts"
/** @since 0.1.0 */
export * as Html from "./Html.ts"
/** @since 0.1.0 */
export * as IdentityHeaders from "./IdentityHeaders.ts"
/** @since 0.1.0 */
export * as RequestInput from "./RequestInput.ts"
/** @since 0.1.0 */
export * as Respond from "./Respond.ts"
/** @since 0.1.0 */
export * as TrustedProxies from "./TrustedProxies.ts"
/** @since 0.1.0 */
export * as WebHandler from "./WebHandler.ts"

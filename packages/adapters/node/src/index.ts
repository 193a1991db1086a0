/**
 * @oidc-proxy/node — oidc-proxy on Node: serving the fetch handler, the assembled proxy layer,
 * and the `oidc-proxy` gateway.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as NodeServer from "./NodeServer.ts"
/** @since 0.1.0 */
export * as ProxyLayer from "./ProxyLayer.ts"

/**
 * @oidc-proxy/node — oidc-proxy on Node: serving the fetch handler, the assembled proxy layer,
 * and the `oidc-proxy` gateway.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Gateway from "./Gateway.ts"
/** @since 0.1.0 */
export * as GatewayConfig from "./GatewayConfig.ts"
/** @since 0.1.0 */
export * as ListFiltering from "./ListFiltering.ts"
/** @since 0.1.0 */
export * as McpGate from "./McpGate.ts"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.ts"
export * as NodeClientMetadataFetcher from "./NodeClientMetadataFetcher.ts"
/** @since 0.1.0 */
/** @since 0.1.0 */
export * as NodeForward from "./NodeForward.ts"
/** @since 0.1.0 */
export * as NodeProxyKeys from "./NodeProxyKeys.ts"
/** @since 0.1.0 */
export * as NodeServer from "./NodeServer.ts"
/** @since 0.1.0 */
export * as NodeStorageKeys from "./NodeStorageKeys.ts"
/** @since 0.1.0 */
export * as NodeUpstreamVerifier from "./NodeUpstreamVerifier.ts"
/** @since 0.1.0 */
export * as ProxyLayer from "./ProxyLayer.ts"
/** @since 0.1.0 */
export * as ResourceQuota from "./ResourceQuota.ts"
export * as ReverseProxy from "./ReverseProxy.ts"

/**
 * @oidc-proxy/core/testing — generators and test layers for property-testing scope rules,
 * verifiers and stores, and for running the whole bearer pipeline and the authorization-server
 * flows (with a scripted upstream and an observable store) without I/O.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Arbitraries from "./Arbitraries.ts"
/** @since 0.1.0 */
export * as TestProxy from "./TestProxy.ts"
/** @since 0.1.0 */
export * as TestStore from "./TestStore.ts"
/** @since 0.1.0 */
export * as TestUpstream from "./TestUpstream.ts"
/** @since 0.1.0 */
export * as TestUpstreamClient from "./TestUpstreamClient.ts"

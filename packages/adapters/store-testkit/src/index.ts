/**
 * @oidc-proxy/store-testkit — the conformance suite any `Store` layer must pass, and the suites a
 * store shared by several instances must pass over its real server; users run them on their own
 * stores.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as SharedStore from "./SharedStore.ts"
/** @since 0.1.0 */
export * as StoreConformance from "./StoreConformance.ts"

/**
 * @oidc-proxy/store-testkit — the conformance suite any `Store` layer must pass; users run it on
 * their own stores.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as StoreConformance from "./StoreConformance.ts"

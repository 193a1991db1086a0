/**
 * @oidc-proxy/example-custom-store — a user-written `Store` that passes the conformance kit.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as MapStore from "./MapStore.ts"

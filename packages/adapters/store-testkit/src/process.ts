/**
 * @oidc-proxy/store-testkit/process — a store's server binary as a throwaway child process for
 * tests (no `@effect/vitest` needed).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ServerProcess from "./ServerProcess.ts"

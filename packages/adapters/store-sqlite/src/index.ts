/**
 * @oidc-proxy/store-sqlite — the embedded persistent `Store`, one SQLite file through `node:sqlite`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as SqliteStore from "./SqliteStore.ts"

/**
 * @oidc-proxy/store-postgres/testing — a throwaway PostgreSQL server for tests.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as PostgresServer from "./PostgresServer.ts"

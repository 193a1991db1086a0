/**
 * @oidc-proxy/store-postgres — the `Store` shared by several proxy instances, on PostgreSQL.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as PostgresCacheInvalidation from "./PostgresCacheInvalidation.ts"
/** @since 0.1.0 */
export * as PostgresClient from "./PostgresClient.ts"
/** @since 0.1.0 */
export * as PostgresMigrations from "./PostgresMigrations.ts"
/** @since 0.1.0 */
export * as PostgresStore from "./PostgresStore.ts"
/** @since 0.1.0 */
export * as PostgresTls from "./PostgresTls.ts"

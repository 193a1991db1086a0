/**
 * @oidc-proxy/store-redis/testing — a throwaway redis-server for tests.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as RedisServer from "./RedisServer.ts"

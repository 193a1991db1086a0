/**
 * @oidc-proxy/store-redis — the `Store` shared by several proxy instances, on Redis.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as RedisCacheInvalidation from "./RedisCacheInvalidation.ts"
/** @since 0.1.0 */
export * as RedisStore from "./RedisStore.ts"

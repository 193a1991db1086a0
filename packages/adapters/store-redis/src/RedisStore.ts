/**
 * The shared `Store` for several proxy instances: Redis, through Effect's `Redis` service.
 *
 * Adapter for core's `Store` port over `effect/persistence`'s `Redis` (`layer` provides it with
 * `@effect/platform-node`'s `NodeRedis`, a node-redis client). TTLs are Redis's own (`SET … PX`),
 * so expiry happens server-side and needs no purge; `take` is `GETDEL` (Redis ≥ 6.2) and
 * `setIfAbsent` is `SET … PX … NX`, atomic by construction. Every Redis failure — a lost connection included — is a `StoreError` (the HTTP
 * layer answers 503 `temporarily_unavailable`), described by the error's kind only, never by a
 * key or a value; a key or value with a lone UTF-16 surrogate is refused with `StoreError` before it
 * is sent (UTF-8 would turn it into U+FFFD, making distinct keys one). While the server is unreachable commands fail at once instead of queueing, and
 * the client reconnects by itself, so the store recovers without a restart. `layer` also provides
 * the `CacheInvalidation` channel (`RedisCacheInvalidation`) of the store's prefix, so a revocation
 * on one instance is refused by every other instance sharing the Redis store once its message
 * arrives, instead of within `cache_ttl_seconds`.
 *
 * @since 0.1.0
 */
import { NodeRedis } from "@effect/platform-node"
import { OAuthError, Store } from "@oidc-proxy/core"
import { Config, Duration, Effect, Layer, Option } from "effect"
import { Redis } from "effect/persistence"
import * as RedisCacheInvalidation from "./RedisCacheInvalidation.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** `redis[s]://[[user][:password]@]host[:port][/db]`. */
  readonly url: string
  /** Prepended to every key, so one Redis can serve other applications too. Default `oidc-proxy:`. */
  readonly prefix?: string
  /** How long a command may wait for its reply before failing with `StoreError`. Default 2 seconds. */
  readonly commandTimeout?: Duration.Input
  /** How long a (re)connection attempt may take. Default 2 seconds. */
  readonly connectTimeout?: Duration.Input
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultPrefix = "oidc-proxy:"

/**
 * Names the kind of failure only: node-redis messages can echo command arguments, which are keys
 * and values. A Redis error reply is named by its code word (`WRONGTYPE`, `OOM`, `NOAUTH`, …).
 */
const kindOf = (error: Redis.RedisError): string => {
  const cause = error.cause
  if (!(cause instanceof Error)) return "redis error"
  const code = /^[A-Z]{2,}\b/.exec(cause.message)?.[0]
  return code === undefined ? cause.constructor.name : `${cause.constructor.name} ${code}`
}

const fail = (operation: OAuthError.StoreError["operation"]) => (error: Redis.RedisError) =>
  new OAuthError.StoreError({ operation, description: `store ${operation} failed: ${kindOf(error)}` })

const nullable = (reply: unknown): Option.Option<string> =>
  typeof reply === "string" ? Option.some(reply) : Option.none()

/**
 * The store over a `Redis` service.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: { readonly prefix?: string } = {},
): Effect.Effect<Store.StoreShape, never, Redis.Redis> =>
  Effect.gen(function* () {
    const redis = yield* Redis.Redis
    const prefix = options.prefix ?? defaultPrefix
    // Redis strings are bytes; node-redis sends JS strings as UTF-8, a lone surrogate as U+FFFD.
    return Store.Store.of(
      Store.refusingIllFormed({
        get: (key) =>
          redis.send("GET", prefix + key).pipe(Effect.map(nullable), Effect.mapError(fail("get"))),
        set: (key, value, ttl) =>
          redis
            .send("SET", prefix + key, value, "PX", String(Store.ttlMillis(ttl)))
            .pipe(Effect.asVoid, Effect.mapError(fail("set"))),
        delete: (key) => redis.send("DEL", prefix + key).pipe(Effect.asVoid, Effect.mapError(fail("delete"))),
        take: (key) =>
          redis.send("GETDEL", prefix + key).pipe(Effect.map(nullable), Effect.mapError(fail("take"))),
        // `NX`: written only when the key is absent (an expired key is absent); the reply is `OK` or nil.
        setIfAbsent: (key, value, ttl) =>
          redis.send("SET", prefix + key, value, "PX", String(Store.ttlMillis(ttl)), "NX").pipe(
            Effect.map((reply) => typeof reply === "string"),
            Effect.mapError(fail("setIfAbsent")),
          ),
      }),
    )
  })

/**
 * The store over a `Redis` service provided elsewhere (a shared client, another runtime's). It
 * provides no cache invalidation: add `RedisCacheInvalidation.layerNodeRedis` when the client is a
 * `NodeRedis` one, or the other instances refuse a revoked token within `cache_ttl_seconds` only.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRedis = (
  options: { readonly prefix?: string } = {},
): Layer.Layer<Store.Store, never, Redis.Redis> => Layer.effect(Store.Store, make(options))

const millis = (input: Duration.Input) =>
  Math.max(1, Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(input))))

/**
 * The Redis store with its own node-redis client, connected when the layer is built (the build
 * fails with `RedisError` when the server is unreachable) and closed with the layer; with it, the
 * `CacheInvalidation` channel `<prefix>invalidate` on a subscriber connection of its own.
 *
 * @example
 * ```ts
 * const StoreLive = RedisStore.layer({ url: "redis://127.0.0.1:6379" })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<Store.Store, Redis.RedisError> => {
  const prefix = options.prefix === undefined ? {} : { prefix: options.prefix }
  return Layer.merge(layerRedis(prefix), RedisCacheInvalidation.layerNodeRedis(prefix)).pipe(
    Layer.provide(
      NodeRedis.layer({
        url: options.url,
        // Queued commands would hang every request for the whole outage; failing at once lets the
        // HTTP layer answer 503 while the client reconnects in the background.
        disableOfflineQueue: true,
        commandOptions: { timeout: millis(options.commandTimeout ?? "2 seconds") },
        socket: { connectTimeout: millis(options.connectTimeout ?? "2 seconds") },
      }),
    ),
  )
}

/**
 * The Redis store with its options read from `Config`.
 *
 * @example
 * ```ts
 * const StoreLive = RedisStore.layerConfig({ url: Config.String("REDIS_URL") })
 * ```
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  options: Config.Wrap<Options>,
): Layer.Layer<Store.Store, Redis.RedisError | Config.ConfigError> =>
  Layer.unwrap(Effect.map(Config.unwrap(options), layer))

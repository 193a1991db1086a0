/**
 * Cross-instance invalidation of the verified-token cache over Redis pub/sub: every instance that
 * shares a Redis store hears the others' revocations on `<prefix>invalidate`.
 *
 * Adapter for core's `CacheInvalidation` port over `@effect/platform-node`'s `NodeRedis` (a
 * node-redis client). Evictions are sent with `PUBLISH` on the store's client; messages are heard
 * on a dedicated subscriber connection (a duplicate of that client). Effect's `Redis.subscribe`
 * does not say when its connection came back, and a subscriber that was away may have missed
 * messages — so this one uses node-redis directly: it reconnects for as long as the layer lives
 * (backoff capped at 1 s), and each time it is subscribed again (node-redis emits `ready` only once
 * the channel is re-subscribed) every member's verified-token cache is cleared. A message that
 * does not decode is logged (without its text) and ignored; a failed `PUBLISH` is logged, and the
 * other instances then refuse within their `cache_ttl_seconds`.
 *
 * The Redis user needs `PUBLISH` and `SUBSCRIBE` on the channel: with Redis 7 ACLs a user created
 * without channel permissions (`acl-pubsub-default resetchannels`, the default) makes the layer
 * build fail with `NOPERM`; grant `&<prefix>invalidate`. Pub/sub ignores the database number:
 * deployments on one Redis server that differ only by database (`redis://host/1`, `/2`) hear each
 * other's evictions (harmless — an eviction never allows — but needless); give them different
 * prefixes.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { NodeRedis } from "@effect/platform-node"
import { CacheInvalidation } from "@oidc-proxy/core"
import { Effect, Layer, type Scope } from "effect"
import { Redis } from "effect/persistence"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The store's key prefix; the channel is `<prefix>invalidate`. Default `oidc-proxy:`. */
  readonly prefix?: string
}

/**
 * The channel for a key prefix.
 *
 * @category constructors
 * @since 0.1.0
 */
export const channel = (prefix = "oidc-proxy:"): string => `${prefix}invalidate`

/** The kind of a failure only (node-redis messages can echo arguments): class and errno code. */
const kindOf = (cause: unknown): string => {
  if (!(cause instanceof Error)) return "redis error"
  const code = (cause as { readonly code?: unknown }).code
  return typeof code === "string" ? `${cause.constructor.name} ${code}` : cause.constructor.name
}

/** Reconnection delay after `retries` failed attempts: 50 ms doubling, capped at 1 s, with jitter. */
const backoff = (retries: number): number =>
  Math.min(50 * 2 ** retries, 1000) + Math.floor(Math.random() * 100)

/**
 * The invalidation channel over the `NodeRedis` client in context (its subscriber connection is
 * opened now, closed with the scope; fails with `RedisError` when it cannot subscribe).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options = {},
): Effect.Effect<
  CacheInvalidation.CacheInvalidationShape,
  Redis.RedisError,
  NodeRedis.NodeRedis | Redis.Redis | Scope.Scope
> =>
  Effect.gen(function* () {
    const { client } = yield* NodeRedis.NodeRedis
    const redis = yield* Redis.Redis
    const name = channel(options.prefix)
    const members = CacheInvalidation.makeMembers(randomUUID)
    const runSync = Effect.runSyncWith(yield* Effect.context<never>())
    const onMessage = (message: unknown) => {
      if (!members.deliver(message))
        runSync(Effect.logWarning("cache invalidation: ignored a message that is not an eviction"))
    }
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          let subscribed = false
          const subscriber = client.duplicate({
            socket: {
              ...client.options?.socket,
              // Before the first subscription a failure fails the layer build; after it, retry forever.
              reconnectStrategy: (retries: number, cause: Error) => (subscribed ? backoff(retries) : cause),
            },
          })
          subscriber.on("error", (cause: unknown) => {
            runSync(Effect.logWarning(`cache invalidation subscriber: ${kindOf(cause)}`))
          })
          subscriber.on("ready", () => {
            if (!subscribed) return
            // Subscribed again; whatever was published while away is lost, so nothing cached stays.
            members.reset()
            runSync(Effect.logInfo("cache invalidation subscriber back; verified-token caches cleared"))
          })
          try {
            await subscriber.connect()
            await subscriber.subscribe(name, onMessage)
            subscribed = true
            members.reset()
            return subscriber
          } catch (cause) {
            if (subscriber.isOpen) subscriber.destroy()
            throw cause
          }
        },
        catch: (cause) => new Redis.RedisError({ cause }),
      }),
      (subscriber) =>
        Effect.sync(() => {
          if (subscriber.isOpen) subscriber.destroy()
        }),
    )
    return {
      join: (listener) =>
        Effect.map(members.add(listener), (origin) => ({
          publish: CacheInvalidation.publisher(
            origin,
            (text) => Effect.asVoid(redis.send("PUBLISH", name, text)),
            (error) => kindOf(error.cause),
          ),
        })),
    }
  })

/**
 * The invalidation channel over a `NodeRedis` client provided elsewhere (`RedisStore.layer`
 * provides one with its store).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerNodeRedis = (
  options: Options = {},
): Layer.Layer<never, Redis.RedisError, NodeRedis.NodeRedis | Redis.Redis> =>
  Layer.effect(CacheInvalidation.CacheInvalidation, make(options))

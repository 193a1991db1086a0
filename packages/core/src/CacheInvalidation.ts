/**
 * Cross-instance invalidation of the verified-token cache: an instance that revokes (or rewrites)
 * tells the other instances sharing its store which entries to evict.
 *
 * Port. `TokenStore` joins it with a listener over its `VerifiedTokenCache` and publishes an
 * `Eviction` after every jti-mapping delete/take and every upstream-token-set write/delete/take;
 * a member evicts what other members publish, the same way it evicts its own (the cache's epoch
 * moves, so a verification in flight cannot re-insert), and clears the whole cache on `reset` —
 * which a transport calls whenever it may have missed messages (a subscriber that reconnected).
 * The default is `none` (one instance, or a store no other instance shares): nothing is sent and
 * the other instances' bound stays `cache_ttl_seconds`. `layerMemory` is an in-process bus (several
 * `TokenStore`s in one process); `@oidc-proxy/store-redis` provides Redis pub/sub.
 *
 * On the wire: the id of the record that changed, exactly as it appears in the store's key
 * (`jti:<jti>`, `upstream:<id>` — neither is a bearer secret, so neither key is hashed), and the
 * publishing member's random id. A transport therefore carries nothing its store does not already
 * hold; a forged message can only evict (one more store read), never allow. Messages are decoded
 * with `Message`; one that does not decode, or is longer than any message could be, is ignored.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema, type Scope } from "effect"

/**
 * What to evict: the tokens of one jti mapping, or every token backed by one upstream token set.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Eviction = Schema.Struct({
  /** `jti`: a jti mapping was deleted or taken; `upstream`: an upstream token set was written or removed. */
  kind: Schema.Literals(["jti", "upstream"]),
  /** The record's id, as in its store key. */
  id: Schema.NonEmptyString.check(Schema.isMaxLength(512)),
})

/**
 * @category models
 * @since 0.1.0
 */
export type Eviction = typeof Eviction.Type

/**
 * An eviction as sent between instances.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Message = Schema.Struct({
  /** The publishing member's id: a member ignores its own messages (it evicted already). */
  origin: Schema.NonEmptyString.check(Schema.isMaxLength(64)),
  evict: Eviction,
})

/**
 * @category models
 * @since 0.1.0
 */
export type Message = typeof Message.Type

const MessageJson = Schema.fromJsonString(Message)
const decodeJson = Schema.decodeUnknownOption(MessageJson)
const encodeJson = Schema.encodeOption(MessageJson)

/**
 * The longest text read as a message. Every message `encodeMessage` can produce fits (a 64-character
 * origin and a 512-character id, each character escaped as `\uXXXX`, are under 3.6 KB); anything
 * longer is ignored before it is parsed.
 *
 * @category schemas
 * @since 0.1.0
 */
export const maxMessageLength = 4096

/**
 * The JSON text of a message; throws when the message does not fit `Message` (an id empty or
 * longer than 512 characters) — `publisher` sends without throwing.
 *
 * @category schemas
 * @since 0.1.0
 */
export const encodeMessage: (message: Message) => string = Schema.encodeSync(MessageJson)

/**
 * A received text as a message; none when it is not one, or is longer than `maxMessageLength`
 * (it is then ignored).
 *
 * @category schemas
 * @since 0.1.0
 */
export const decodeMessage = (text: unknown): Option.Option<Message> =>
  typeof text === "string" && text.length <= maxMessageLength ? decodeJson(text) : Option.none()

/**
 * What a member does with what others publish.
 *
 * @category models
 * @since 0.1.0
 */
export interface Listener {
  /** Evict what another member evicted. */
  readonly evict: (eviction: Eviction) => void
  /** Messages may have been missed: forget everything. */
  readonly reset: () => void
}

/**
 * A joined member: publishes to every other member.
 *
 * @category models
 * @since 0.1.0
 */
export interface Member {
  /** Never fails: a message that cannot be sent is logged, and the other members' bound is then their cache TTL. */
  readonly publish: (eviction: Eviction) => Effect.Effect<void>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface CacheInvalidationShape {
  /** Joins for the scope's lifetime: `listener` hears the other members' evictions. */
  readonly join: (listener: Listener) => Effect.Effect<Member, never, Scope.Scope>
}

const silent: Member = { publish: () => Effect.void }

/**
 * A member's `publish` over a transport's `send`, keeping `Member`'s promise never to fail: an
 * eviction that does not fit a message (an id empty or longer than 512 characters) or that `send`
 * could not deliver is logged — by the kind of failure only (`kindOf`), never the id — and the
 * other members then refuse within their cache TTL.
 *
 * @category constructors
 * @since 0.1.0
 */
export const publisher =
  <E>(
    origin: string,
    send: (text: string) => Effect.Effect<void, E>,
    kindOf: (error: E) => string,
  ): Member["publish"] =>
  (evict) => {
    const text = encodeJson({ origin, evict })
    return Option.isNone(text)
      ? Effect.logWarning("cache invalidation: an eviction whose id does not fit a message was not sent")
      : Effect.catch(send(text.value), (error) =>
          Effect.logWarning(`cache invalidation: publish failed: ${kindOf(error)}`),
        )
  }

/**
 * No other instance: nothing is sent or heard.
 *
 * @category constructors
 * @since 0.1.0
 */
export const none: CacheInvalidationShape = { join: () => Effect.succeed(silent) }

/**
 * The invalidation channel; `none` unless another is provided.
 *
 * @category services
 * @since 0.1.0
 */
export const CacheInvalidation = Context.Reference<CacheInvalidationShape>(
  "@oidc-proxy/core/CacheInvalidation",
  {
    defaultValue: () => none,
  },
)

/**
 * The members of one transport, by member id: what a transport built on a channel keeps, and
 * hands each received text to (`deliver`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Members {
  /** Adds a member for the scope's lifetime; returns its id. */
  readonly add: (listener: Listener) => Effect.Effect<string, never, Scope.Scope>
  /** Passes a received text to every member but its origin; `false` when it is not a message. */
  readonly deliver: (text: unknown) => boolean
  /** Calls every member's `reset`. */
  readonly reset: () => void
}

/**
 * An empty member set; `newId` names each member (it must be unique across every instance that
 * shares the channel: a random id).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMembers = (newId: () => string): Members => {
  const listeners = new Map<string, Listener>()
  return {
    add: (listener) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const id = newId()
          listeners.set(id, listener)
          return id
        }),
        (id) => Effect.sync(() => listeners.delete(id)),
      ),
    deliver: (text) => {
      const message = decodeMessage(text)
      if (Option.isNone(message)) return false
      for (const [id, listener] of listeners)
        if (id !== message.value.origin) listener.evict(message.value.evict)
      return true
    },
    reset: () => {
      for (const listener of listeners.values()) listener.reset()
    },
  }
}

/**
 * An in-process bus: every `TokenStore` built under this layer hears the others (several instances
 * in one process, tests). Messages go through `encodeMessage`/`decodeMessage` as on a real wire.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<never> = Layer.sync(CacheInvalidation, () => {
  let n = 0
  const members = makeMembers(() => `m${++n}`)
  return {
    join: (listener) =>
      Effect.map(members.add(listener), (origin) => ({
        publish: publisher(
          origin,
          (text) => Effect.sync(() => void members.deliver(text)),
          () => "in-process bus",
        ),
      })),
  }
})

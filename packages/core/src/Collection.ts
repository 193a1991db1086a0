/**
 * A typed collection over the `Store` port: a key prefix and a Schema codec.
 *
 * Pure core over the `Store` port. A stored value that does not decode is treated as a miss and
 * logged as a warning (without the value), never a crash: a store shared across versions or
 * partially corrupted must not take the proxy down.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Option, Schema } from "effect"
import type { StoreError } from "./OAuthError.ts"
import type { StoreShape } from "./Store.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Collection<A> {
  readonly get: (id: string) => Effect.Effect<Option.Option<A>, StoreError>
  readonly set: (id: string, value: A, ttl: Duration.Input) => Effect.Effect<void, StoreError>
  readonly delete: (id: string) => Effect.Effect<void, StoreError>
  readonly take: (id: string) => Effect.Effect<Option.Option<A>, StoreError>
}

/**
 * Builds a collection named `name` (the key prefix) storing `schema` values as JSON.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S extends Schema.Codec<unknown, unknown>>(
  store: StoreShape,
  name: string,
  schema: S,
): Collection<S["Type"]> => {
  const codec = Schema.fromJsonString(schema as Schema.Codec<S["Type"], unknown>)
  const encode = Schema.encodeSync(codec)
  const decode = Schema.decodeUnknownOption(codec)
  const key = (id: string) => `${name}:${id}`
  const decodeOrMiss = (found: Option.Option<string>) =>
    Option.match(found, {
      onNone: () => Effect.succeedNone,
      onSome: (raw) =>
        Option.match(decode(raw), {
          onSome: (value) => Effect.succeedSome(value),
          onNone: () =>
            Effect.logWarning("stored record does not decode; treated as missing").pipe(
              Effect.annotateLogs({ collection: name }),
              Effect.as(Option.none()),
            ),
        }),
    })
  return {
    get: (id) => Effect.flatMap(store.get(key(id)), decodeOrMiss),
    set: (id, value, ttl) => store.set(key(id), encode(value), ttl),
    delete: (id) => store.delete(key(id)),
    take: (id) => Effect.flatMap(store.take(key(id)), decodeOrMiss),
  }
}

/**
 * A `Store` that can be observed: it wraps another store (memory by default) and lets a test list
 * what is stored, so a test can assert that a refused request changed nothing and that no secret
 * reaches the store in clear.
 *
 * Testing. Every key written through the wrapper is remembered; `snapshot` reads each one back
 * through the wrapped store, so expired and deleted entries drop out as they would for any reader.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import type { StoreError } from "../OAuthError.ts"
import * as Store from "../Store.ts"

/**
 * One call that changed the store.
 *
 * @category models
 * @since 0.1.0
 */
export interface Write {
  readonly operation: "set" | "delete" | "take" | "setIfAbsent"
  readonly key: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface TestStoreShape {
  /** The live entries (key → stored value, as the store holds it), sorted by key. */
  readonly snapshot: Effect.Effect<ReadonlyMap<string, string>, StoreError>
  /** The live keys, sorted; with `prefix`, only those of one collection (e.g. `"txn:"`). */
  readonly keys: (prefix?: string) => Effect.Effect<ReadonlyArray<string>, StoreError>
  /** Every `set`, `delete`, `take` and `setIfAbsent` so far, in order. */
  readonly writes: Effect.Effect<ReadonlyArray<Write>>
}

/**
 * @category services
 * @since 0.1.0
 */
export class TestStore extends Context.Service<TestStore, TestStoreShape>()(
  "@oidc-proxy/core/testing/TestStore",
) {}

/**
 * Wraps `store`; the result provides both the `Store` and its observer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  store: Layer.Layer<Store.Store> = Store.layerMemory,
): Layer.Layer<Store.Store | TestStore> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const inner = yield* Store.Store
      const seen = new Set<string>()
      const log: Array<Write> = []
      const record = (operation: Write["operation"], key: string) =>
        Effect.sync(() => {
          seen.add(key)
          log.push({ operation, key })
        })
      const wrapped: Store.StoreShape = {
        get: inner.get,
        set: (key, value, ttl) => Effect.andThen(record("set", key), inner.set(key, value, ttl)),
        delete: (key) => Effect.andThen(record("delete", key), inner.delete(key)),
        take: (key) => Effect.andThen(record("take", key), inner.take(key)),
        setIfAbsent: (key, value, ttl) =>
          Effect.andThen(record("setIfAbsent", key), inner.setIfAbsent(key, value, ttl)),
      }
      const snapshot = Effect.gen(function* () {
        const entries = new Map<string, string>()
        for (const key of [...seen].sort()) {
          const value = yield* inner.get(key)
          if (Option.isSome(value)) entries.set(key, value.value)
        }
        return entries as ReadonlyMap<string, string>
      })
      const observer: TestStoreShape = {
        snapshot,
        keys: (prefix = "") =>
          Effect.map(snapshot, (entries) => [...entries.keys()].filter((k) => k.startsWith(prefix))),
        writes: Effect.sync(() => [...log]),
      }
      return Context.make(Store.Store, wrapped).pipe(Context.add(TestStore, observer))
    }),
  ).pipe(Layer.provide(store))

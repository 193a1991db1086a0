/**
 * The storage port: a small key-value primitive with TTL and an atomic take.
 *
 * Port. Every durable piece of proxy state (clients, transactions, codes, upstream token sets,
 * jti mappings, refresh records) is a typed collection over this one service, so a custom store is
 * four methods. `take` (get-and-delete in one atomic step; Redis `GETDEL`, SQL
 * `DELETE … RETURNING`) is what makes codes, transactions and refresh tokens single use.
 * `layerMemory` is a real implementation with TTL read from `Clock`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { StoreError } from "./OAuthError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface StoreShape {
  /** The value of `key`, or none when absent or expired. */
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
  /** Stores `value` under `key` for `ttl`, replacing any earlier value. */
  readonly set: (key: string, value: string, ttl: Duration.Input) => Effect.Effect<void, StoreError>
  /** Removes `key`; removing an absent key succeeds. */
  readonly delete: (key: string) => Effect.Effect<void, StoreError>
  /**
   * Returns the value of `key` and removes it in one atomic step: of many concurrent takes of one
   * key, exactly one sees the value.
   */
  readonly take: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
}

/**
 * @category services
 * @since 0.1.0
 */
export class Store extends Context.Service<Store, StoreShape>()("@oidc-proxy/core/Store") {}

/**
 * Milliseconds of a TTL; a TTL must be positive and finite.
 *
 * @category utils
 * @since 0.1.0
 */
export const ttlMillis = (ttl: Duration.Input): number => {
  const ms = Duration.toMillis(Duration.fromInputUnsafe(ttl))
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 1
}

/**
 * An in-memory store: a `Map` whose entries expire by `Clock` (so `TestClock` drives it). Expired
 * entries are dropped when read and swept on writes, so memory stays bounded by the live entries.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<StoreShape> = Effect.sync(() => {
  const entries = new Map<string, { readonly value: string; readonly expiresAt: number }>()
  let writes = 0
  const live = (key: string, now: number) => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      entries.delete(key)
      return undefined
    }
    return entry
  }
  const sweep = (now: number) => {
    for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key)
  }
  return {
    get: (key) =>
      Clock.currentTimeMillis.pipe(Effect.map((now) => Option.fromNullishOr(live(key, now)?.value))),
    set: (key, value, ttl) =>
      Clock.currentTimeMillis.pipe(
        Effect.map((now) => {
          entries.set(key, { value, expiresAt: now + ttlMillis(ttl) })
          if (++writes % 1024 === 0) sweep(now)
        }),
      ),
    delete: (key) => Effect.sync(() => void entries.delete(key)),
    take: (key) =>
      Clock.currentTimeMillis.pipe(
        Effect.map((now) => {
          const entry = live(key, now)
          entries.delete(key)
          return Option.fromNullishOr(entry?.value)
        }),
      ),
  }
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Store> = Layer.effect(Store, makeMemory)

/**
 * A scripted store for tests: every operation defaults to a memory store and can be overridden
 * (e.g. to fail with `StoreError`); the overrides see the memory store they wrap.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTest = (overrides: (memory: StoreShape) => Partial<StoreShape>): Layer.Layer<Store> =>
  Layer.effect(
    Store,
    Effect.map(makeMemory, (memory) => ({ ...memory, ...overrides(memory) })),
  )

/**
 * @category constructors
 * @since 0.1.0
 */
export const storeError = (operation: StoreError["operation"], cause: unknown): StoreError =>
  new StoreError({
    operation,
    // Only the kind of failure: a backend's message may quote the command, i.e. a key or value.
    description: `store ${operation} failed${cause instanceof Error ? `: ${cause.constructor.name}` : ""}`,
  })

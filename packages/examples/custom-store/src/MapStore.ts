/**
 * A `Store` written from scratch: a `Map` with its own TTL handling, the smallest store that
 * passes the conformance kit.
 *
 * Example adapter for core's `Store` port; depends only on `effect`. Read it as a template for
 * your own store (DynamoDB, Postgres, a KV service): five methods, time from `Clock`, failures as
 * `StoreError`, and `take` and `setIfAbsent` atomic. Then run `StoreConformance.suite` on it, as this package's test
 * does.
 *
 * @since 0.1.0
 */
import { Store } from "@oidc-proxy/core"
import { Clock, Effect, Layer, Option } from "effect"

interface Entry {
  readonly value: string
  readonly expiresAt: number
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make: Effect.Effect<Store.StoreShape> = Effect.sync(() => {
  const entries = new Map<string, Entry>()

  // Time comes from Effect's Clock, never Date.now(): that is what lets the kit (and your tests)
  // move time with TestClock instead of sleeping.
  const now = Clock.currentTimeMillis

  // Expired entries are dropped when they are met; a real store also needs a sweep (or native
  // expiry) so entries that are never read again do not pile up.
  const live = (key: string, at: number): Entry | undefined => {
    const entry = entries.get(key)
    if (entry !== undefined && entry.expiresAt <= at) {
      entries.delete(key)
      return undefined
    }
    return entry
  }

  return Store.Store.of({
    get: (key) => Effect.map(now, (at) => Option.fromNullishOr(live(key, at)?.value)),

    set: (key, value, ttl) =>
      Effect.map(now, (at) => {
        entries.set(key, { value, expiresAt: at + Store.ttlMillis(ttl) })
      }),

    delete: (key) => Effect.sync(() => void entries.delete(key)),

    // Atomic because the read and the delete run in one synchronous step: no other fiber can run
    // between them. A networked store needs one server-side operation instead (GETDEL,
    // DELETE … RETURNING, a conditional delete), never a get followed by a delete.
    take: (key) =>
      Effect.map(now, (at) => {
        const entry = live(key, at)
        entries.delete(key)
        return Option.fromNullishOr(entry?.value)
      }),

    // Atomic for the same reason: the check and the write are one synchronous step. A networked
    // store needs a conditional write on the server (Redis `SET … NX`, SQL `INSERT … ON CONFLICT`
    // that replaces only an expired row), never a get followed by a set.
    setIfAbsent: (key, value, ttl) =>
      Effect.map(now, (at) => {
        if (live(key, at) !== undefined) return false
        entries.set(key, { value, expiresAt: at + Store.ttlMillis(ttl) })
        return true
      }),
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<Store.Store> = Layer.effect(Store.Store, make)

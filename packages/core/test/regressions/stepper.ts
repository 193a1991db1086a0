/**
 * A memory store that can hold a request before its n-th store operation, so a race test can force
 * every interleaving of two requests deterministically.
 *
 * Test support.
 */
import { Deferred, Effect, Fiber } from "effect"
import * as Store from "../../src/Store.ts"

/** A memory store whose next operations can be counted and one of them held. */
export const stepper = () => {
  let count = 0
  let pause: { at: number; reached: Deferred.Deferred<void>; release: Deferred.Deferred<void> } | undefined
  const step = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      const p = pause
      if (p === undefined || count++ !== p.at) return effect
      pause = undefined
      return Effect.andThen(
        Deferred.succeed(p.reached, undefined),
        Effect.andThen(Deferred.await(p.release), effect),
      )
    })
  // No `getSync`: every read goes through `step`.
  const layer = Store.layerTest((m) => ({
    get: (k) => step(m.get(k)),
    set: (k, v, t) => step(m.set(k, v, t)),
    delete: (k) => step(m.delete(k)),
    take: (k) => step(m.take(k)),
    setIfAbsent: (k, v, t) => step(m.setIfAbsent(k, v, t)),
  }))
  /** Forks `effect`, held before its `at`-th store operation (`undefined`: never held). */
  const startUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, at: number | undefined) =>
    Effect.gen(function* () {
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      count = 0
      pause = at === undefined ? undefined : { at, reached, release }
      const fiber = yield* Effect.forkChild(
        Effect.ensuring(Effect.result(effect), Deferred.succeed(done, undefined)),
      )
      const held = yield* Effect.raceFirst(
        Effect.as(Deferred.await(reached), true),
        Effect.as(Deferred.await(done), false),
      )
      pause = undefined
      return { held, release: Deferred.succeed(release, undefined), result: Fiber.join(fiber) }
    })
  return { layer, startUntil }
}

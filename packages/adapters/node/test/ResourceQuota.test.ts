/**
 * The per-subject quota on the protected resource (`ResourceQuota`) over the gateway's storage keys
 * (`NodeStorageKeys`, node:crypto's synchronous HMAC of each slot key): two instances with their own
 * hints over one store spend one budget, the refusal is 429-shaped with `Retry-After`, and the next
 * window brings a fresh budget — on the instance that knew the old one full too.
 */
import { Store, TokenStore } from "@oidc-proxy/core"
import { TestProxy } from "@oidc-proxy/core/testing"
import { Clock, Effect, Layer, ManagedRuntime } from "effect"
import { afterEach, assert, describe, it } from "vitest"
import * as NodeStorageKeys from "../src/NodeStorageKeys.ts"
import * as ResourceQuota from "../src/ResourceQuota.ts"

/** A clock the test moves; both instances (and the store's TTLs) read it. */
const manualClock = (startMillis: number) => {
  let now = startMillis
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => now,
    currentTimeMillis: Effect.sync(() => now),
    currentTimeNanosUnsafe: () => BigInt(now) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => BigInt(now) * 1_000_000n,
    monotonicTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
    sleep: () => Effect.never,
  }
  return { clock, set: (millis: number) => (now = millis) }
}

const runtimes: Array<ManagedRuntime.ManagedRuntime<TokenStore.TokenStore, unknown>> = []
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.dispose()))
})

/** One gateway instance's quota over `store`: its own runtime, keys and hints. */
const instance = (store: Store.StoreShape, clock: Clock.Clock, limit: number) => {
  const keys = NodeStorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)
  const runtime = ManagedRuntime.make(
    TokenStore.layer.pipe(
      Layer.provide(Layer.merge(Layer.succeed(Store.Store, store), keys)),
      Layer.provideMerge(Layer.succeed(Clock.Clock, clock)),
    ),
  )
  runtimes.push(runtime)
  const quota = ResourceQuota.make(
    runtime,
    { resource_requests_per_subject: limit, resource_window_seconds: 60 } as never,
    clock,
  )
  if (quota === undefined) throw new Error("the quota is off")
  return quota
}

// 1_800_000_000 s is a multiple of 60: the first window starts there.
const windowStart = 1_800_000_000_000

describe("ResourceQuota", () => {
  it("check - two instances over one store spend one budget; the next window has a fresh one", async () => {
    const time = manualClock(windowStart + 1_000)
    const store = Effect.runSync(Store.makeMemory)
    const a = instance(store, time.clock, 3)
    const b = instance(store, time.clock, 3)
    for (const quota of [a, a, b]) assert.isUndefined(await quota.check("ada"))
    const refused = await b.check("ada")
    assert.strictEqual(refused?.error, "temporarily_unavailable")
    assert.strictEqual(refused?.retry_after, 59)
    // A never saw the window full: it asks the store and is refused too.
    assert.strictEqual((await a.check("ada"))?.error, "temporarily_unavailable")
    // Another subject has a budget of its own.
    assert.isUndefined(await b.check("bob"))
    // The next window: both instances admit again (B remembered the old window full), up to the limit.
    time.set(windowStart + 60_000)
    for (const quota of [b, a, b]) assert.isUndefined(await quota.check("ada"))
    assert.strictEqual((await a.check("ada"))?.error, "temporarily_unavailable")
  })

  it("admit - a refusal the instance already knows is answered at once, with the seconds left", async () => {
    const time = manualClock(windowStart + 30_500)
    const quota = instance(Effect.runSync(Store.makeMemory), time.clock, 1)
    assert.isUndefined(await quota.check("ada"))
    assert.strictEqual((await quota.check("ada"))?.error, "temporarily_unavailable")
    let answered: unknown = "pending"
    quota.admit("ada", (refusal) => (answered = refusal?.retry_after))
    assert.strictEqual(answered, 30)
  })
})

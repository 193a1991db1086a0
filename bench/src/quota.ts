/**
 * The per-subject quota on the protected resource (`ResourceQuota`, `OIDC_PROXY_MCP_QUOTA`) on its
 * warm path: one admission of a subject this instance counted before (one keyed hash of the slot
 * key, one `setIfAbsent`), over the memory store, with the storage keys of core (WebCrypto's
 * asynchronous HMAC) and of the Node gateway (`NodeStorageKeys`, node:crypto's synchronous HMAC);
 * and that keyed hash alone, to show its share.
 */
import { createHmac, createSecretKey } from "node:crypto"
import { StorageKeys, Store, TokenStore } from "@oidc-proxy/core"
import { TestProxy } from "@oidc-proxy/core/testing"
import { NodeStorageKeys, ResourceQuota } from "@oidc-proxy/node"
import { Clock, Effect, Layer, ManagedRuntime } from "effect"
import { measureAsync, measureSync, type Run } from "./measure.ts"

const secrets = [{ kid: "k1", secret: TestProxy.testSecret }] as const

/** What the storage keys are computed with. */
export type Keys = "webcrypto" | "node"

/**
 * A quota with a budget no run reaches, over a fresh memory store; `admit(i)` counts one request of
 * one of 100 subjects. `close` disposes of the runtime.
 */
export const makeQuota = async (keys: Keys) => {
  const storageKeys = keys === "node" ? NodeStorageKeys.layer(secrets) : StorageKeys.layer(secrets)
  const runtime = ManagedRuntime.make(
    TokenStore.layer.pipe(Layer.provide(Store.layerMemory), Layer.provide(Layer.orDie(storageKeys))),
  )
  const clock = await runtime.runPromise(Clock.clockWith(Effect.succeed))
  const quota = ResourceQuota.make(
    runtime,
    { resource_requests_per_subject: 1_000_000_000, resource_window_seconds: 3600 } as never,
    clock,
  )
  if (quota === undefined) throw new Error("quota off")
  return {
    admit: (i: number) => quota.check(`user-${i % 100}`),
    close: () => runtime.dispose(),
  }
}

/** One run of `n` admissions, `inFlight` at once. */
export const measureAdmit = (
  quota: Awaited<ReturnType<typeof makeQuota>>,
  n: number,
  inFlight: number,
): Promise<Run> =>
  measureAsync(n, inFlight, async (i) => {
    if ((await quota.admit(i)) !== undefined) throw new Error("refused")
  })

/** One run of `n` keyed hashes of slot keys alone (node:crypto, a `KeyObject` as `NodeStorageKeys`). */
export const measureSlotHash = (n: number): Run => {
  const key = createSecretKey(new Uint8Array(32).fill(5))
  return measureSync(n, (i) =>
    createHmac("sha256", key)
      .update(`resource|user-${i % 100}|480000|${i}`, "utf8")
      .digest("base64url"),
  )
}

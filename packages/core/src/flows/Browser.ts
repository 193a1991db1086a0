/**
 * The browser binding of an authorization transaction: a cookie set at `/authorize` whose value's
 * keyed hash is stored in the transaction and checked at the consent form and at the upstream
 * callback. A callback that arrives in another browser (a victim lured onto an attacker's
 * authorization URL) fails the check — the confused-deputy defence.
 *
 * Effect over the StorageKeys port.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { constantTimeEqual } from "../Pkce.ts"
import type { ProxyConfig } from "../ProxyConfig.ts"
import type { Transaction } from "../Session.ts"
import { StorageKeys } from "../StorageKeys.ts"
import type { Cookie } from "./Outcome.ts"

/**
 * The cookie name for a transaction: one cookie per transaction, so several sign-ins in one
 * browser do not overwrite each other's binding.
 *
 * @category utils
 * @since 0.1.0
 */
export const cookieName = (transactionId: string): Effect.Effect<string, never, StorageKeys> =>
  Effect.map(
    StorageKeys.use((keys) => keys.hash(`cookie:${transactionId}`)),
    (h) => `oidcp_tx_${h.slice(0, 16)}`,
  )

/**
 * @category utils
 * @since 0.1.0
 */
export const cookiePath = (config: ProxyConfig): string => {
  const path = new URL(config.issuer).pathname.replace(/\/+$/, "")
  return path === "" ? "/" : path
}

/**
 * The binding cookie for a new transaction, and the hash to store.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bind = (transactionId: string, value: string, config: ProxyConfig) =>
  Effect.gen(function* () {
    const keys = yield* StorageKeys
    const cookie: Cookie = {
      name: yield* cookieName(transactionId),
      value,
      maxAge: config.ttl.transaction,
      path: cookiePath(config),
    }
    return { cookie, hash: yield* keys.hash(`binding:${value}`) }
  })

/**
 * `true` when the request's cookies carry the binding of `transaction`.
 *
 * @category utils
 * @since 0.1.0
 */
export const isBound = (
  transactionId: string,
  transaction: Transaction,
  cookies: Readonly<Record<string, string>>,
): Effect.Effect<boolean, never, StorageKeys> =>
  Effect.gen(function* () {
    const value = cookies[yield* cookieName(transactionId)]
    if (value === undefined || value === "") return false
    const hashes = yield* (yield* StorageKeys).hashes(`binding:${value}`)
    return hashes.some((h) => constantTimeEqual(h, transaction.binding_hash))
  })

/**
 * The cookie that clears a transaction's binding.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unbind = (transactionId: string, config: ProxyConfig) =>
  Effect.map(
    cookieName(transactionId),
    (name): Cookie => ({ name, value: "", maxAge: 0, path: cookiePath(config) }),
  )

/**
 * The browser a sign-in runs in: a server-minted browser id, and the binding of each
 * authorization transaction to it, checked at the consent form and at the upstream callback. A
 * callback that arrives in another browser (a victim lured onto an attacker's authorization URL)
 * fails the check — the confused-deputy defence.
 *
 * Effect over the StorageKeys port.
 * - The browser id cookie is `<id>.<MAC of id>`: a value the server did not mint (planted by a
 *   sibling subdomain or a network attacker) fails the MAC and is replaced, never adopted.
 * - A transaction's cookie holds a random value; the transaction stores the keyed hash of that
 *   value together with the browser id. A transaction cookie tossed into another browser does not
 *   verify there, because that browser's id is not the one it was bound to.
 * - With an https issuer every cookie is `__Host-` (Secure, `Path=/`, no `Domain`): neither a
 *   sibling subdomain nor a plain-http response can set or shadow it. Plain `http://` (local
 *   development) keeps plain names and can offer no such guarantee.
 * - MACs and cookie names are checked under every configured storage key, so a rotation of the
 *   master secret does not break sign-ins in flight or forget remembered consent.
 *
 * @see [RFC 6265bis §4.1.3.2](https://datatracker.ietf.org/doc/html/draft-ietf-httpbis-rfc6265bis#section-4.1.3.2) (`__Host-`)
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Entropy } from "../Entropy.ts"
import type { Transaction } from "../FlowRecords.ts"
import { constantTimeEqual } from "../internal/constantTime.ts"
import { type ProxyConfig, Settings } from "../ProxyConfig.ts"
import { StorageKeys } from "../StorageKeys.ts"
import type { Cookie } from "./Outcome.ts"

const isSecure = (config: ProxyConfig): boolean => new URL(config.issuer).protocol === "https:"

/**
 * The prefix of every cookie the proxy sets: `__Host-` when the issuer is https, none otherwise.
 *
 * @category utils
 * @since 0.1.0
 */
export const cookiePrefix = (config: ProxyConfig): string => (isSecure(config) ? "__Host-" : "")

/**
 * The path of the proxy's cookies: `/` when the issuer is https (`__Host-` requires it), the
 * issuer's path otherwise.
 *
 * @category utils
 * @since 0.1.0
 */
export const cookiePath = (config: ProxyConfig): string => {
  if (isSecure(config)) return "/"
  const path = new URL(config.issuer).pathname.replace(/\/+$/, "")
  return path === "" ? "/" : path
}

/**
 * The name of the browser id cookie.
 *
 * @category utils
 * @since 0.1.0
 */
export const browserCookieName = (config: ProxyConfig): string => `${cookiePrefix(config)}oidcp_browser`

/**
 * The cookie names for a transaction under every configured storage key, newest first: one cookie
 * per transaction, so several sign-ins in one browser do not overwrite each other's binding.
 */
const cookieNames = (transactionId: string, config: ProxyConfig) =>
  Effect.map(
    StorageKeys.use((keys) => keys.hashes(`cookie:${transactionId}`)),
    (hashes) => hashes.map((h) => `${cookiePrefix(config)}oidcp_tx_${h.slice(0, 16)}`),
  )

const browserId = /^[A-Za-z0-9_-]{32,128}$/

/**
 * The browser id a request's cookies carry, when the server minted it (its MAC verifies under a
 * configured storage key); `undefined` otherwise.
 *
 * @category utils
 * @since 0.1.0
 */
export const verifiedBrowser = (
  cookies: Readonly<Record<string, string>>,
  config: ProxyConfig,
): Effect.Effect<string | undefined, never, StorageKeys> =>
  Effect.gen(function* () {
    const [id, mac, ...rest] = (cookies[browserCookieName(config)] ?? "").split(".")
    if (id === undefined || mac === undefined || rest.length > 0 || !browserId.test(id)) return undefined
    const macs = yield* (yield* StorageKeys).hashes(`browser:${id}`)
    return macs.some((m) => constantTimeEqual(m, mac)) ? id : undefined
  })

/**
 * The request's browser id when the server minted it, or a new one; with the cookie that carries
 * it (set again on every sign-in, so it outlives the transactions and remembered consents bound to
 * it).
 *
 * @category constructors
 * @since 0.1.0
 */
export const browser = (cookies: Readonly<Record<string, string>>, config: ProxyConfig) =>
  Effect.gen(function* () {
    const known = yield* verifiedBrowser(cookies, config)
    const id = known ?? (yield* (yield* Entropy).token(32))
    const mac = yield* (yield* StorageKeys).hash(`browser:${id}`)
    const cookie: Cookie = {
      name: browserCookieName(config),
      value: `${id}.${mac}`,
      maxAge: Math.max(config.ttl.transaction, config.consent === "remember" ? config.ttl.refresh_token : 0),
      path: cookiePath(config),
    }
    return { id, minted: known === undefined, cookie }
  })

const bindingOf = (browser: string, value: string) => `binding:${browser}:${value}`

/**
 * The binding cookie for a new transaction in browser `browser`, and the hash to store.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bind = (transactionId: string, browser: string, value: string, config: ProxyConfig) =>
  Effect.gen(function* () {
    const keys = yield* StorageKeys
    const [name] = yield* cookieNames(transactionId, config)
    const cookie: Cookie = { name: name!, value, maxAge: config.ttl.transaction, path: cookiePath(config) }
    return { cookie, hash: yield* keys.hash(bindingOf(browser, value)) }
  })

/**
 * `true` when the request's cookies carry the binding of `transaction`: the transaction's cookie
 * (under any configured key's name) and the server-minted browser id it was bound to.
 *
 * @category utils
 * @since 0.1.0
 */
export const isBound = (
  transactionId: string,
  transaction: Transaction,
  cookies: Readonly<Record<string, string>>,
): Effect.Effect<boolean, never, StorageKeys | Settings> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const browser = yield* verifiedBrowser(cookies, config)
    if (browser === undefined) return false
    const names = yield* cookieNames(transactionId, config)
    const value = names.map((name) => cookies[name]).find((v) => v !== undefined && v !== "")
    if (value === undefined) return false
    const hashes = yield* (yield* StorageKeys).hashes(bindingOf(browser, value))
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
    cookieNames(transactionId, config),
    ([name]): Cookie => ({ name: name!, value: "", maxAge: 0, path: cookiePath(config) }),
  )

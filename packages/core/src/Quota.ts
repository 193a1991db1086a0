/**
 * Quotas on what unauthenticated callers can make the proxy keep: client registrations per
 * source address, pending transactions (valid `/authorize` requests) and used client-assertion
 * marks per source and per client, in fixed windows. Only requests that would be stored are counted, so a refused request
 * still writes nothing.
 *
 * Effect over the TokenStore (its `quotas` collection) and Clock. A window's count is a run of
 * numbered slots, each claimed once with `setIfAbsent`, so every instance sharing the store
 * shares the count and no store primitive beyond the five is needed. Claimers take the first free
 * slot they find and move up when they lose it, so the claimed slots are a prefix and the first
 * free one is found by binary search: a refused request costs one read (the last slot is taken),
 * an admitted one about log2(limit) reads and one `setIfAbsent`. Slots expire with their window.
 * A fixed window admits at most twice the limit across a window boundary.
 *
 * @see [RFC 6585 §4](https://www.rfc-editor.org/rfc/rfc6585#section-4) (429 Too Many Requests)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { type OAuthFailure, type StoreError, tooManyRequests } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import { TokenStore } from "./TokenStore.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Limit {
  /** What is counted (part of the slot keys). */
  readonly name: string
  /** Admissions per window; 0 = no limit. */
  readonly limit: number
  readonly windowSeconds: number
}

/**
 * Counts one admission for `bucket` under `limit`, or fails with `temporarily_unavailable` (429,
 * `Retry-After` = the seconds left in the window) when the window's count is used up.
 *
 * @category constructors
 * @since 0.1.0
 */
export const admit = (
  limit: Limit,
  bucket: string,
  description: string,
): Effect.Effect<void, OAuthFailure | StoreError, TokenStore> =>
  Effect.gen(function* () {
    if (limit.limit <= 0) return
    const quotas = (yield* TokenStore).quotas
    const nowSeconds = (yield* Clock.currentTimeMillis) / 1000
    const window = Math.floor(nowSeconds / limit.windowSeconds)
    const left = (window + 1) * limit.windowSeconds - nowSeconds
    const slot = (n: number) => `${limit.name}|${bucket}|${window}|${n}`
    const taken = (n: number) => Effect.map(quotas.get(slot(n)), Option.isSome)
    const refuse = tooManyRequests(`${description}; retry in ${Math.ceil(left)} seconds`, left)
    if (yield* taken(limit.limit - 1)) return yield* refuse
    let low = 0
    let high = limit.limit - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (yield* taken(middle)) low = middle + 1
      else high = middle
    }
    for (let n = low; n < limit.limit; n++) {
      if (yield* quotas.setIfAbsent(slot(n), 1, `${Math.ceil(left) + 1} seconds`)) return
    }
    return yield* refuse
  })

/**
 * The bucket of a peer address: an IPv4 address as is (also IPv4-mapped IPv6), an IPv6 address by
 * its /64 (one subscriber usually holds a whole /64). `undefined` when the runtime does not say.
 *
 * @category utils
 * @since 0.1.0
 */
export const sourceBucket = (address: string | undefined): string | undefined => {
  if (address === undefined || address === "") return undefined
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]
  if (!address.includes(":")) return address
  const [head = "", tail = ""] = address.toLowerCase().split("%")[0]!.split("::")
  const front = head === "" ? [] : head.split(":")
  const back = tail === "" ? [] : tail.split(":")
  const groups = address.includes("::")
    ? [...front, ...Array(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back]
    : front
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`
}

/**
 * Counts a registration from `source` (no per-source count when the runtime gives no address).
 *
 * @category constructors
 * @since 0.1.0
 */
export const admitRegistration = (source: string | undefined) =>
  Effect.gen(function* () {
    const bucket = sourceBucket(source)
    if (bucket === undefined) return
    const quotas = (yield* Settings).quotas
    yield* admit(
      {
        name: "register",
        limit: quotas.registrations_per_source,
        windowSeconds: quotas.registration_window_seconds,
      },
      bucket,
      "Too many client registrations from this address",
    )
  })

/**
 * Counts a pending transaction (an `/authorize` request about to be stored) from `source` for
 * `clientId`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const admitAuthorization = (source: string | undefined, clientId: string) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const windowSeconds = config.ttl.transaction
    const bucket = sourceBucket(source)
    if (bucket !== undefined)
      yield* admit(
        { name: "authorize", limit: config.quotas.authorizations_per_source, windowSeconds },
        bucket,
        "Too many authorization requests from this address",
      )
    yield* admit(
      { name: "authorize-client", limit: config.quotas.authorizations_per_client, windowSeconds },
      clientId,
      "Too many authorization requests for this client",
    )
  })

/**
 * Counts a client assertion about to leave its used-`jti` mark, from `source` for `clientId`, in
 * windows of `windowSeconds` (the longest lifetime an assertion may have).
 *
 * @category constructors
 * @since 0.1.0
 */
export const admitAssertion = (source: string | undefined, clientId: string, windowSeconds: number) =>
  Effect.gen(function* () {
    const quotas = (yield* Settings).quotas
    const bucket = sourceBucket(source)
    if (bucket !== undefined)
      yield* admit(
        { name: "assertion", limit: quotas.assertions_per_source, windowSeconds },
        bucket,
        "Too many client assertions from this address",
      )
    yield* admit(
      { name: "assertion-client", limit: quotas.assertions_per_client, windowSeconds },
      clientId,
      "Too many client assertions for this client",
    )
  })

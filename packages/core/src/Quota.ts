/**
 * Quotas on what unauthenticated callers can make the proxy keep: client registrations per
 * source address, pending transactions (valid `/authorize` requests) and used client-assertion
 * marks per source and per client, in fixed windows; and rate limits on `/token` (per source and
 * per client) and on the protected resource (per subject). Only requests that would be stored are counted, so a refused request
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
import { type ProxyConfig, Settings } from "./ProxyConfig.ts"
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
 * What one instance remembers of the windows it counted in: per window of a bucket, the slot after
 * the last one it claimed (all below are taken, the claimed slots being a prefix), or the limit
 * once it saw the window full. A hint never admits by itself: the next admission first tries to
 * claim that slot in the store (one `setIfAbsent` instead of a search), and a window this instance
 * saw full is refused without asking the store. Bounded: cleared past `maxEntries`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Hints {
  readonly slots: Map<string, number>
  readonly maxEntries: number
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeHints = (maxEntries = 10_000): Hints => ({ slots: new Map(), maxEntries })

/**
 * Each store's own hints, for admissions that bring none: keyed by the store's `quotas`
 * collection, so two stores (two tests, two layers) never share them.
 */
const storeHints = new WeakMap<object, Hints>()

const hintsOf = (quotas: object): Hints => {
  let hints = storeHints.get(quotas)
  if (hints === undefined) {
    hints = makeHints()
    storeHints.set(quotas, hints)
  }
  return hints
}

const remember = (hints: Hints, key: string, next: number) => {
  if (hints.slots.size >= hints.maxEntries && !hints.slots.has(key)) hints.slots.clear()
  hints.slots.set(key, next)
}

/**
 * The seconds left in the current window when `hints` know it is full for `bucket` (this instance
 * saw it refused or claimed its last slot): a refusal that needs no store. `undefined` otherwise.
 *
 * @category utils
 * @since 0.1.0
 */
export const knownFull = (
  limit: Limit,
  bucket: string,
  hints: Hints,
  nowMillis: number,
): number | undefined => {
  const nowSeconds = nowMillis / 1000
  const window = Math.floor(nowSeconds / limit.windowSeconds)
  const hint = hints.slots.get(`${limit.name}|${bucket}|${window}`)
  return hint !== undefined && hint >= limit.limit
    ? (window + 1) * limit.windowSeconds - nowSeconds
    : undefined
}

/**
 * Counts one admission for `bucket` under `limit`, or fails with `temporarily_unavailable` (429,
 * `Retry-After` = the seconds left in the window) when the window's count is used up. With hints
 * (`hints`, by default the store's own in this process), a repeated bucket costs one store
 * operation.
 *
 * @category constructors
 * @since 0.1.0
 */
export const admit = (
  limit: Limit,
  bucket: string,
  description: string,
  given?: Hints,
): Effect.Effect<void, OAuthFailure | StoreError, TokenStore> =>
  Effect.gen(function* () {
    if (limit.limit <= 0) return
    const quotas = (yield* TokenStore).quotas
    const hints = given ?? hintsOf(quotas)
    const nowSeconds = (yield* Clock.currentTimeMillis) / 1000
    const window = Math.floor(nowSeconds / limit.windowSeconds)
    const left = (window + 1) * limit.windowSeconds - nowSeconds
    const key = `${limit.name}|${bucket}|${window}`
    const slot = (n: number) => `${key}|${n}`
    const ttl = `${Math.ceil(left) + 1} seconds` as const
    const taken = (n: number) => Effect.map(quotas.get(slot(n)), Option.isSome)
    const refuse = Effect.suspend(() => {
      remember(hints, key, limit.limit)
      return tooManyRequests(`${description}; retry in ${Math.ceil(left)} seconds`, left)
    })
    const hint = hints.slots.get(key)
    if (hint !== undefined && hint >= limit.limit) return yield* refuse
    if (hint !== undefined && (yield* quotas.setIfAbsent(slot(hint), 1, ttl))) {
      remember(hints, key, hint + 1)
      return
    }
    if (yield* taken(limit.limit - 1)) return yield* refuse
    let low = hint === undefined ? 0 : hint + 1
    let high = limit.limit - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if (yield* taken(middle)) low = middle + 1
      else high = middle
    }
    for (let n = low; n < limit.limit; n++) {
      if (yield* quotas.setIfAbsent(slot(n), 1, ttl)) {
        remember(hints, key, n + 1)
        return
      }
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

/**
 * Counts a `/token` request from `source`, before anything else in it is looked at.
 *
 * @category constructors
 * @since 0.1.0
 */
export const admitToken = (source: string | undefined) =>
  Effect.gen(function* () {
    const bucket = sourceBucket(source)
    if (bucket === undefined) return
    const quotas = (yield* Settings).quotas
    yield* admit(
      { name: "token", limit: quotas.tokens_per_source, windowSeconds: quotas.token_window_seconds },
      bucket,
      "Too many token requests from this address",
    )
  })

/**
 * Counts a `/token` request of the authenticated client `clientId`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const admitTokenClient = (clientId: string) =>
  Effect.gen(function* () {
    const quotas = (yield* Settings).quotas
    yield* admit(
      { name: "token-client", limit: quotas.tokens_per_client, windowSeconds: quotas.token_window_seconds },
      clientId,
      "Too many token requests for this client",
    )
  })

/**
 * The per-subject limit of the protected resource, from the settings; `limit` 0 = none.
 *
 * @category constructors
 * @since 0.1.0
 */
export const resourceLimit = (quotas: ProxyConfig["quotas"]): Limit => ({
  name: "resource",
  limit: quotas.resource_requests_per_subject,
  windowSeconds: quotas.resource_window_seconds,
})

/**
 * Counts a request to the protected resource by `subject` (already allowed by the bearer check).
 *
 * @category constructors
 * @since 0.1.0
 */
export const admitResource = (limit: Limit, subject: string, hints?: Hints) =>
  admit(limit, subject, "Too many requests for this user", hints)

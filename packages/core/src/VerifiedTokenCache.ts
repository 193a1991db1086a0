/**
 * The verified-token cache: bearer strings this instance verified recently, with the
 * `AccessToken` they resolved to.
 *
 * Pure core (a bounded `Map`, no Effect, no I/O; time is passed in). Keyed by the exact token
 * string. An entry lives until the earliest of the token's own expiry, the configured TTL and the
 * time its upstream token set needs a refresh; the oldest entry is dropped when the cache is full.
 * Entries are also indexed by `jti` and by upstream token set, so revoking a token or a family,
 * and replacing or deleting an upstream token set, evicts at once (see `TokenStore`).
 *
 * @since 0.1.0
 */
import type { AccessToken } from "./AccessToken.ts"

/**
 * What an entry is tied to, for eviction.
 *
 * @category models
 * @since 0.1.0
 */
export interface Links {
  /** The proxy token's `jti`. */
  readonly jti: string
  /** `UpstreamTokenSet.id` behind the token. */
  readonly upstreamId: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface VerifiedTokenCache {
  /** The remembered `AccessToken` of `token`, when one is still fresh at `nowMillis`. */
  readonly lookup: (token: string, nowMillis: number) => AccessToken | undefined
  /**
   * A counter that moves on every eviction. A verification reads it before its first store read
   * and passes it to `remember`, so a revocation that lands while the verification runs is never
   * papered over by a stale entry.
   */
  readonly epoch: () => number
  /**
   * Remembers `accessToken` for `token` until `min(notAfterMillis, nowMillis + ttl)`; nothing is
   * remembered when that is not in the future, when an eviction happened since `epoch`, or when
   * the cache is disabled.
   */
  readonly remember: (
    token: string,
    accessToken: AccessToken,
    links: Links,
    notAfterMillis: number,
    nowMillis: number,
    epoch: number,
  ) => void
  /** Forgets every token with this `jti` (revocation of one access token, a family's tokens). */
  readonly evictJti: (jti: string) => void
  /** Forgets every token backed by this upstream token set (refresh, family revocation). */
  readonly evictUpstream: (upstreamId: string) => void
  readonly clear: () => void
  readonly size: () => number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Upper bound on an entry's life, in milliseconds; 0 disables the cache. */
  readonly ttlMillis: number
  /** Most entries held at once. */
  readonly maxEntries: number
}

interface Entry {
  readonly accessToken: AccessToken
  readonly expiresAt: number
  readonly jti: string
  readonly upstreamId: string
}

/** A token set per key, held as the token itself while there is one (the common case). */
type Index = Map<string, string | Set<string>>

const link = (index: Index, key: string, token: string) => {
  const tokens = index.get(key)
  if (tokens === undefined) index.set(key, token)
  else if (typeof tokens === "object") tokens.add(token)
  else if (tokens !== token) index.set(key, new Set([tokens, token]))
}

const unlink = (index: Index, key: string, token: string) => {
  const tokens = index.get(key)
  if (tokens === token) index.delete(key)
  else if (typeof tokens === "object") {
    tokens.delete(token)
    if (tokens.size === 0) index.delete(key)
  }
}

const linked = (index: Index, key: string): ReadonlyArray<string> => {
  const tokens = index.get(key)
  return tokens === undefined ? [] : typeof tokens === "string" ? [tokens] : [...tokens]
}

/**
 * An empty cache.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): VerifiedTokenCache => {
  const enabled = options.ttlMillis > 0 && options.maxEntries > 0
  const entries = new Map<string, Entry>()
  // Several bearer strings can carry one jti: jose and node:crypto read a signature whose last
  // base64url character differs in its unused bits as the same signature. Revoking the jti
  // evicts every one of them.
  const byJti: Index = new Map()
  const byUpstream: Index = new Map()
  let evictions = 0

  const drop = (token: string, entry: Entry) => {
    entries.delete(token)
    unlink(byJti, entry.jti, token)
    unlink(byUpstream, entry.upstreamId, token)
  }
  const dropAll = (index: Index, key: string) => {
    for (const token of linked(index, key)) {
      const entry = entries.get(token)
      if (entry !== undefined) drop(token, entry)
    }
    index.delete(key)
  }

  return {
    lookup: (token, nowMillis) => {
      const entry = entries.get(token)
      if (entry === undefined) return undefined
      if (entry.expiresAt <= nowMillis) {
        drop(token, entry)
        return undefined
      }
      return entry.accessToken
    },
    epoch: () => evictions,
    remember: (token, accessToken, links, notAfterMillis, nowMillis, epoch) => {
      if (!enabled || epoch !== evictions) return
      const expiresAt = Math.min(notAfterMillis, nowMillis + options.ttlMillis)
      if (!(expiresAt > nowMillis)) return
      const previous = entries.get(token)
      if (previous !== undefined) drop(token, previous)
      while (entries.size >= options.maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done === true) break
        drop(oldest.value, entries.get(oldest.value)!)
      }
      entries.set(token, { accessToken, expiresAt, jti: links.jti, upstreamId: links.upstreamId })
      link(byJti, links.jti, token)
      link(byUpstream, links.upstreamId, token)
    },
    evictJti: (jti) => {
      evictions++
      dropAll(byJti, jti)
    },
    evictUpstream: (upstreamId) => {
      evictions++
      dropAll(byUpstream, upstreamId)
    },
    clear: () => {
      evictions++
      entries.clear()
      byJti.clear()
      byUpstream.clear()
    },
    size: () => entries.size,
  }
}

/**
 * A cache that remembers nothing.
 *
 * @category constructors
 * @since 0.1.0
 */
export const disabled: VerifiedTokenCache = make({ ttlMillis: 0, maxEntries: 0 })

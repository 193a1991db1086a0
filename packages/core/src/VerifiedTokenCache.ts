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
 * Layout for many sessions: a warm hit reads the `Map` and one object, the entry, which holds
 * copies of what the bearer decision reads (expiry, resource, scopes; `Hit`). The resource and the
 * scope set are shared between entries (a few distinct values for any number of sessions), so
 * they stay in the CPU caches; the `AccessToken` itself is not read on a hit. At 100k sessions and
 * more, each object a hit reads is a likely cache miss (see bench/README.md, round 9).
 *
 * @since 0.1.0
 */
import type { AccessToken } from "./AccessToken.ts"
import type { ScopeSet } from "./Scopes.ts"

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
 * A remembered verification as a hit reads it: the `AccessToken`, and copies of the fields the
 * bearer decision reads (`BearerDecision.Grant`), held on the entry so a hit reads one object.
 *
 * @category models
 * @since 0.1.0
 */
export interface Hit {
  readonly accessToken: AccessToken
  /** `accessToken.expires_at`. */
  readonly expires_at: number
  /** `accessToken.resource` (one string shared by the entries with this value). */
  readonly resource: string | undefined
  /** `accessToken.scopes` (one frozen array shared by the entries with this set). */
  readonly scopes: ScopeSet
}

/**
 * @category models
 * @since 0.1.0
 */
export interface VerifiedTokenCache {
  /** The remembered `AccessToken` of `token`, when one is still fresh at `nowMillis`. */
  readonly lookup: (token: string, nowMillis: number) => AccessToken | undefined
  /** `lookup`, answered as the entry itself (what a warm bearer check decides on). */
  readonly hit: (token: string, nowMillis: number) => Hit | undefined
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

/** One object per token: everything a hit reads is on it (a class: one compact V8 shape). */
class Entry implements Hit {
  readonly accessToken: AccessToken
  readonly expiresAt: number
  readonly expires_at: number
  readonly resource: string | undefined
  readonly scopes: ScopeSet
  readonly jti: string
  readonly upstreamId: string
  constructor(
    accessToken: AccessToken,
    expiresAt: number,
    resource: string | undefined,
    scopes: ScopeSet,
    links: Links,
  ) {
    this.accessToken = accessToken
    this.expiresAt = expiresAt
    this.expires_at = accessToken.expires_at
    this.resource = resource
    this.scopes = scopes
    this.jti = links.jti
    this.upstreamId = links.upstreamId
  }
}

/**
 * Distinct resources and scope sets shared between entries, at most this many of each: a few
 * values in practice; past the bound an entry keeps its own copy (same value, one more read).
 */
const maxShared = 256

const shared = <A>(table: Map<string, A>, key: string, value: A): A => {
  const found = table.get(key)
  if (found !== undefined) return found
  if (table.size < maxShared) table.set(key, value)
  return value
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
  const resources = new Map<string, string>()
  const scopeSets = new Map<string, ScopeSet>()
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

  const hit = (token: string, nowMillis: number): Entry | undefined => {
    const entry = entries.get(token)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= nowMillis) {
      drop(token, entry)
      return undefined
    }
    return entry
  }
  const entryOf = (accessToken: AccessToken, expiresAt: number, links: Links) => {
    const resource = accessToken.resource
    return new Entry(
      accessToken,
      expiresAt,
      resource === undefined ? undefined : shared(resources, resource, resource),
      shared(scopeSets, JSON.stringify(accessToken.scopes), Object.freeze([...accessToken.scopes])),
      links,
    )
  }

  return {
    lookup: (token, nowMillis) => hit(token, nowMillis)?.accessToken,
    hit,
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
      entries.set(token, entryOf(accessToken, expiresAt, links))
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
      resources.clear()
      scopeSets.clear()
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

/**
 * Experiment (bench control, not the production cache): the verified-token cache as an
 * open-addressing table over typed arrays, same contract as `VerifiedTokenCache`.
 *
 * Why: a warm hit through a `Map` keyed by the bearer string reads, one after the other, the
 * hash bucket, the table entry, the stored key string's characters and the entry object — four
 * dependent reads that each miss the CPU caches once the sessions outgrow them (bench/README.md,
 * round 9). Here a hit reads one slot line (hash tag + record index, 8 per cache line), then one
 * record: its decision fields and the whole key's bytes contiguous in one arena (consecutive
 * lines, which the prefetcher streams), and in parallel the record's `AccessToken` pointer.
 *
 * Safety: the slot comes from a hash of the whole bearer's bytes (4 at a time) keyed by a
 * per-table random seed (attackers choose bearers); a lookup or insert visits at most `maxProbe`
 * slots and never loops; when an insert's window is full it evicts the oldest record of that
 * window. The hash only picks slots: a hit needs the same length and every byte equal (the whole
 * bearer), so a colliding or truncated match never authorizes. Keys longer than `maxKeyBytes`, or
 * with a character past U+00FF (never a header value), are not remembered (the slow path answers).
 *
 * Contract kept from `VerifiedTokenCache`: TTL and expiry re-checked on every hit, at most
 * `maxEntries` (oldest first, a linked list over record indexes), eviction by `jti` and upstream
 * token set, the epoch that forbids a stale `remember`. `hit` answers one reused view object,
 * valid until the next call (the check reads it at once).
 */
import { randomBytes } from "node:crypto"
import type { AccessToken as AccessTokens, VerifiedTokenCache as Cache, Scopes } from "@oidc-proxy/core"

type AccessToken = AccessTokens.AccessToken
type ScopeSet = Scopes.ScopeSet
type VerifiedTokenCache = Cache.VerifiedTokenCache

export interface Options {
  readonly ttlMillis: number
  readonly maxEntries: number
  /** Longest bearer remembered, in bytes (records have a fixed stride). */
  readonly maxKeyBytes?: number
  /** Most slots a lookup or insert visits. */
  readonly maxProbe?: number
  /** The slot hash, replaceable by tests (colliding hashes); default keyed by a random seed. */
  readonly hash?: (token: string) => number
}

/** Record header, in 4-byte words: expiresAt (f64), expires_at (f64), keyLength, resource, scopes. */
const headerBytes = 32
const W_KEYLEN = 4
const W_RES = 5
const W_SCOPES = 6
/** Distinct resources and scope sets in the shared tables (as `VerifiedTokenCache`). */
const maxShared = 256
const latin1 = /^[\0-\xff]*$/

/** A keyed hash of the first `n` bytes of `bytes` (4 at a time through `words`, its view). */
export const keyedHash = (seed: number, bytes: Uint8Array, words: Int32Array, n: number) => {
  let h = (seed ^ Math.imul(n, 0x9e3779b1)) | 0
  const whole = n >>> 2
  for (let i = 0; i < whole; i++) {
    h = Math.imul(h ^ words[i]!, 0x5bd1e995)
    h ^= h >>> 15
  }
  for (let i = whole << 2; i < n; i++) h = Math.imul(h ^ bytes[i]!, 0x5bd1e995)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) | 0
}

type Index = Map<string, number | Set<number>>
const link = (index: Index, key: string, rec: number) => {
  const v = index.get(key)
  if (v === undefined) index.set(key, rec)
  else if (typeof v === "object") v.add(rec)
  else if (v !== rec) index.set(key, new Set([v, rec]))
}
const unlink = (index: Index, key: string, rec: number) => {
  const v = index.get(key)
  if (v === rec) index.delete(key)
  else if (typeof v === "object") {
    v.delete(rec)
    if (v.size === 0) index.delete(key)
  }
}

export interface TypedTokenTable extends VerifiedTokenCache {
  /** Slots visited by the last lookup or insert (tests: the probe bound). */
  readonly lastProbe: () => number
  /** Bytes of typed arrays the table holds. */
  readonly bytes: () => number
}

export const make = (options: Options): TypedTokenTable => {
  const enabled = options.ttlMillis > 0 && options.maxEntries > 0
  const cap = Math.max(1, options.maxEntries)
  const maxProbe = options.maxProbe ?? 32
  const stride = Math.ceil((headerBytes + (options.maxKeyBytes ?? 480)) / 64) * 64
  const maxKey = stride - headerBytes
  let slotCount = 8
  while (slotCount < 4 * cap) slotCount *= 2
  const mask = slotCount - 1
  const hash = options.hash
  const seed = randomBytes(4).readInt32LE(0)
  // Slot s: [2s] hash tag, [2s+1] record + 1 (0 empty, -1 deleted).
  const slots = new Int32Array(2 * slotCount)
  const arena = new ArrayBuffer(cap * stride)
  const bytes = new Uint8Array(arena)
  const arenaBuffer = Buffer.from(arena)
  // Own buffer (not the pool's): the word view needs a 4-byte-aligned start.
  const scratch = Buffer.from(new ArrayBuffer(stride))
  const scratchWords = new Int32Array(scratch.buffer, 0, stride / 4)
  const words = new Int32Array(arena)
  const doubles = new Float64Array(arena)
  const slotOf = new Int32Array(cap)
  const seqOf = new Float64Array(cap)
  const prev = new Int32Array(cap)
  const next = new Int32Array(cap)
  const tokens: Array<AccessToken | undefined> = new Array(cap).fill(undefined)
  const jtis: Array<string> = new Array(cap).fill("")
  const ups: Array<string> = new Array(cap).fill("")
  /** Past `maxShared`: a record's own resource / scopes (index −2). */
  const ownResource: Array<string | undefined> = new Array(cap).fill(undefined)
  const ownScopes: Array<ScopeSet | undefined> = new Array(cap).fill(undefined)
  const resources: Array<string> = []
  const resourceIndex = new Map<string, number>()
  const scopeSets: Array<ScopeSet> = []
  const scopeIndex = new Map<string, number>()
  const byJti: Index = new Map()
  const byUpstream: Index = new Map()
  let free: Array<number> = []
  let fresh = 0
  let head = -1 // oldest
  let tail = -1 // newest
  let live = 0
  let seq = 0
  let evictions = 0
  let probed = 0

  const view = {
    accessToken: undefined as unknown as AccessToken,
    expires_at: 0,
    resource: "" as string | undefined,
    scopes: [] as ScopeSet,
  }

  /**
   * Writes `token` to `scratch` and answers its slot hash, or undefined when the table cannot
   * hold it byte for byte (too long; a character past U+00FF, which a latin1 write truncates).
   */
  const load = (token: string) => {
    const n = token.length
    if (n > maxKey || !latin1.test(token)) return undefined
    scratch.write(token, 0, "latin1")
    return hash === undefined ? keyedHash(seed, scratch, scratchWords, n) : hash(token)
  }

  /** Same length and every byte of the bearer in `scratch`: the exact comparison of the whole bearer. */
  const equal = (rec: number, n: number) => {
    if (words[(rec * stride) / 4 + W_KEYLEN] !== n) return false
    const at = rec * stride + headerBytes
    return arenaBuffer.compare(scratch, 0, n, at, at + n) === 0
  }

  /** The record holding the bearer in `scratch`, or −1; visits at most `maxProbe` slots. */
  const find = (n: number, h: number) => {
    let s = h & mask
    for (let p = 0; p < maxProbe; p++) {
      const r = slots[2 * s + 1]!
      if (r === 0) {
        probed = p + 1
        return -1
      }
      if (r > 0 && slots[2 * s] === h && equal(r - 1, n)) {
        probed = p + 1
        return r - 1
      }
      s = (s + 1) & mask
    }
    probed = maxProbe
    return -1
  }

  const drop = (rec: number) => {
    slots[2 * slotOf[rec]! + 1] = -1
    const p = prev[rec]!
    const q = next[rec]!
    if (p >= 0) next[p] = q
    else head = q
    if (q >= 0) prev[q] = p
    else tail = p
    unlink(byJti, jtis[rec]!, rec)
    unlink(byUpstream, ups[rec]!, rec)
    tokens[rec] = undefined
    ownResource[rec] = undefined
    ownScopes[rec] = undefined
    free.push(rec)
    live--
  }

  const hit = (token: string, nowMillis: number) => {
    const h = load(token)
    if (h === undefined) return undefined
    const rec = find(token.length, h)
    if (rec < 0) return undefined
    const w = (rec * stride) / 4
    if (doubles[w / 2]! <= nowMillis) {
      drop(rec)
      return undefined
    }
    const res = words[w + W_RES]!
    const sc = words[w + W_SCOPES]!
    view.accessToken = tokens[rec]!
    view.expires_at = doubles[w / 2 + 1]!
    view.resource = res === -1 ? undefined : res === -2 ? ownResource[rec] : resources[res]
    view.scopes = sc === -2 ? ownScopes[rec]! : scopeSets[sc]!
    return view
  }

  /** A free slot in `token`'s window, evicting the window's oldest record when there is none. */
  const place = (h: number) => {
    let s = h & mask
    let oldest = -1
    for (let p = 0; p < maxProbe; p++) {
      const r = slots[2 * s + 1]!
      if (r <= 0) {
        probed = p + 1
        return s
      }
      if (oldest < 0 || seqOf[r - 1]! < seqOf[slots[2 * oldest + 1]! - 1]!) oldest = s
      s = (s + 1) & mask
    }
    probed = maxProbe
    drop(slots[2 * oldest + 1]! - 1)
    return oldest
  }

  const shared = <A>(values: Array<A>, index: Map<string, number>, key: string, value: A) => {
    const found = index.get(key)
    if (found !== undefined) return found
    if (values.length >= maxShared) return -2
    index.set(key, values.length)
    values.push(value)
    return values.length - 1
  }

  const store = (rec: number, token: string, accessToken: AccessToken, expiresAt: number) => {
    const w = (rec * stride) / 4
    doubles[w / 2] = expiresAt
    doubles[w / 2 + 1] = accessToken.expires_at
    words[w + W_KEYLEN] = token.length
    scratch.copy(bytes, rec * stride + headerBytes, 0, token.length)
    const resource = accessToken.resource
    const res = resource === undefined ? -1 : shared(resources, resourceIndex, resource, resource)
    if (res === -2) ownResource[rec] = resource
    words[w + W_RES] = res
    const scopes = Object.freeze([...accessToken.scopes])
    const sc = shared(scopeSets, scopeIndex, JSON.stringify(accessToken.scopes), scopes)
    if (sc === -2) ownScopes[rec] = scopes
    words[w + W_SCOPES] = sc
    tokens[rec] = accessToken
  }

  const remember: VerifiedTokenCache["remember"] = (
    token,
    accessToken,
    links,
    notAfterMillis,
    nowMillis,
    epoch,
  ) => {
    if (!enabled || epoch !== evictions) return
    const expiresAt = Math.min(notAfterMillis, nowMillis + options.ttlMillis)
    if (!(expiresAt > nowMillis)) return
    // Not remembered (the slow path answers): too long for a record, or not one byte a character.
    const h = load(token)
    if (h === undefined) return
    const previous = find(token.length, h)
    if (previous >= 0) drop(previous)
    while (live >= cap && head >= 0) drop(head)
    const s = place(h)
    const rec = free.length > 0 ? free.pop()! : fresh++
    store(rec, token, accessToken, expiresAt)
    slots[2 * s] = h
    slots[2 * s + 1] = rec + 1
    slotOf[rec] = s
    seqOf[rec] = seq++
    prev[rec] = tail
    next[rec] = -1
    if (tail >= 0) next[tail] = rec
    else head = rec
    tail = rec
    jtis[rec] = links.jti
    ups[rec] = links.upstreamId
    link(byJti, links.jti, rec)
    link(byUpstream, links.upstreamId, rec)
    live++
  }

  const dropAll = (index: Index, key: string) => {
    const v = index.get(key)
    if (v === undefined) return
    for (const rec of typeof v === "number" ? [v] : [...v]) drop(rec)
    index.delete(key)
  }

  return {
    lookup: (token, nowMillis) => hit(token, nowMillis)?.accessToken,
    hit,
    epoch: () => evictions,
    remember,
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
      slots.fill(0)
      tokens.fill(undefined)
      ownResource.fill(undefined)
      ownScopes.fill(undefined)
      byJti.clear()
      byUpstream.clear()
      free = []
      fresh = 0
      head = -1
      tail = -1
      live = 0
    },
    size: () => live,
    lastProbe: () => probed,
    bytes: () =>
      slots.byteLength +
      arena.byteLength +
      (slotOf.byteLength + prev.byteLength + next.byteLength) +
      seqOf.byteLength,
  }
}

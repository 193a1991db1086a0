/**
 * The storage port: a small key-value primitive with TTL, an atomic take and an atomic
 * set-if-absent.
 *
 * Port. Every durable piece of proxy state (clients, transactions, codes, upstream token sets,
 * jti mappings, refresh records) is a typed collection over this one service, so a custom store is
 * five methods. `take` (get-and-delete in one atomic step; Redis `GETDEL`, SQL
 * `DELETE … RETURNING`) is what makes codes, transactions and refresh tokens single use;
 * `setIfAbsent` (Redis `SET … NX`) is what makes a client assertion's `jti` single use.
 * `layerMemory` is a real implementation with TTL read from `Clock`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { StoreError } from "./OAuthError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface StoreShape {
  /** The value of `key`, or none when absent or expired. */
  readonly get: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
  /** Stores `value` under `key` for `ttl`, replacing any earlier value. */
  readonly set: (key: string, value: string, ttl: Duration.Input) => Effect.Effect<void, StoreError>
  /** Removes `key`; removing an absent key succeeds. */
  readonly delete: (key: string) => Effect.Effect<void, StoreError>
  /**
   * Returns the value of `key` and removes it in one atomic step: of many concurrent takes of one
   * key, exactly one sees the value.
   */
  readonly take: (key: string) => Effect.Effect<Option.Option<string>, StoreError>
  /**
   * Stores `value` under `key` for `ttl` only when `key` holds no live value, in one atomic step:
   * `true` when written, `false` when a live value was already there (left as it was). Of many
   * concurrent calls for one absent key, exactly one answers `true` (Redis `SET … NX`, SQL
   * `INSERT … ON CONFLICT DO UPDATE … WHERE expired`). It is what makes a one-time mark (a client
   * assertion's `jti`) hold under concurrency. A store that holds itself within a budget must not
   * drop a value written this way before its TTL (nor when a later `set` rewrites it): losing a
   * one-time mark would let the replay it stops through.
   */
  readonly setIfAbsent: (
    key: string,
    value: string,
    ttl: Duration.Input,
  ) => Effect.Effect<boolean, StoreError>
  /**
   * Optional, for stores that answer without waiting (in-process memory, an embedded synchronous
   * database): the value of `key` at `nowMillis` (epoch ms), answered synchronously — `undefined`
   * when absent or expired. It must agree with `get`; when the store fails it throws, and callers
   * ask `get` (which reports the failure as `StoreError`). The cold bearer check uses it to read
   * without entering the Effect runtime; stores that do network I/O leave it out.
   */
  readonly getSync?: (key: string, nowMillis: number) => string | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class Store extends Context.Service<Store, StoreShape>()("@oidc-proxy/core/Store") {}

/**
 * Milliseconds of a TTL; a TTL must be positive and finite.
 *
 * @category utils
 * @since 0.1.0
 */
export const ttlMillis = (ttl: Duration.Input): number => {
  const ms = Duration.toMillis(Duration.fromInputUnsafe(ttl))
  return Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 1
}

interface MemoryEntry {
  /** The value, or for a packed ciphertext its IV and ciphertext as one character per byte. */
  readonly value: string
  readonly expiresAt: number
  /** `v1.<kid>.` of a packed ciphertext (one shared string per key id); `undefined`: not packed. */
  readonly head: string | undefined
  /** A one-time mark (written by `setIfAbsent`): never dropped for room before it expires. */
  readonly mark: boolean
}

/**
 * An encrypted record (`v1.<kid>.<iv>.<ciphertext>`, base64url, a 12-byte IV) held as binary (one
 * character per byte, one byte each in V8) takes 3/4 of the room, and its `v1.<kid>.` is shared.
 * Only canonical base64url is packed, so unpacking gives back exactly the string stored.
 */
const packable = /^(v1\.[A-Za-z0-9_-]{1,64}\.)([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{64,})$/

/** Node's `Buffer` when there is one (5× faster than `btoa` here); `atob`/`btoa` elsewhere. */
const NodeBuffer = (
  globalThis as {
    readonly Buffer?: {
      from: (
        s: string,
        encoding: "latin1" | "base64url",
      ) => { toString: (e: "base64url" | "latin1") => string }
    }
  }
).Buffer

const toBase64Url = (binary: string): string =>
  NodeBuffer !== undefined
    ? NodeBuffer.from(binary, "latin1").toString("base64url")
    : btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")

const fromBase64Url = (text: string): string | undefined => {
  try {
    const binary =
      NodeBuffer !== undefined
        ? NodeBuffer.from(text, "base64url").toString("latin1")
        : atob(text.replace(/-/g, "+").replace(/_/g, "/"))
    return toBase64Url(binary) === text ? binary : undefined
  } catch {
    return undefined
  }
}

const ivBytes = 12

// biome-ignore lint/suspicious/noControlCharactersInRegex: the one-byte range is the point
const isLatin1 = (s: string): boolean => !/[^\u0000-\u00ff]/.test(s)

/**
 * A flat copy of `s` on Node (a concatenation is a tree of V8 cons strings, 32 bytes a node, kept
 * for as long as the value lives); `s` itself elsewhere.
 */
const flat = (s: string): string =>
  NodeBuffer !== undefined ? NodeBuffer.from(s, "latin1").toString("latin1") : s

const makeMemoryEntry = () => {
  const heads = new Map<string, string>()
  return (value: string, expiresAt: number, mark: boolean): MemoryEntry => {
    const m = packable.exec(value)
    if (m !== null) {
      const iv = fromBase64Url(m[2]!)
      const ct = iv?.length === ivBytes ? fromBase64Url(m[3]!) : undefined
      if (iv !== undefined && ct !== undefined) {
        // A capture is a slice that would keep the whole original string alive: one flat copy per kid.
        let head = heads.get(m[1]!)
        if (head === undefined) {
          head = JSON.parse(JSON.stringify(m[1]!)) as string
          if (heads.size < 64) heads.set(head, head)
        }
        return { value: flat(iv + ct), expiresAt, head, mark }
      }
    }
    return { value, expiresAt, head: undefined, mark }
  }
}

const storedValue = (entry: MemoryEntry | undefined): string | undefined =>
  entry === undefined
    ? undefined
    : entry.head === undefined
      ? entry.value
      : unpacked(entry.head, toBase64Url(entry.value))

/** 12 bytes are 16 base64url characters with no carry, so `iv‖ct` encodes as `<iv><ct>`. */
const unpacked = (head: string, ivAndCiphertext: string): string =>
  `${head}${ivAndCiphertext.slice(0, 16)}.${ivAndCiphertext.slice(16)}`

/**
 * @category models
 * @since 0.1.0
 */
export interface MemoryOptions {
  /**
   * Budget of the stored keys and values, in bytes: a key's and a value's length plus
   * `memoryEntryOverhead` per entry (a packed ciphertext counts its binary length). When a write
   * would go over it, expired entries are dropped first, then the least recently written ones that
   * are not one-time marks (`setIfAbsent` values: a redeemed code, a rotated refresh token, a used
   * assertion, a revoked family, a quota slot); when marks alone fill it, the write fails with
   * `StoreError` and changes nothing. Default 64 MiB (`defaultMemoryBytes`).
   */
  readonly maxBytes?: number
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultMemoryBytes = 64 * 1024 * 1024

/**
 * What an entry is counted for beyond its key and value (the `Map` slot and the entry object).
 *
 * @category constants
 * @since 0.1.0
 */
export const memoryEntryOverhead = 128

const costOf = (key: string, entry: MemoryEntry) => key.length + entry.value.length + memoryEntryOverhead

/**
 * An in-memory store: a `Map` whose entries expire by `Clock` (so `TestClock` drives it). Expired
 * entries are dropped when read and swept on writes; the whole is held within a byte budget
 * (`MemoryOptions.maxBytes`) by dropping expired entries, then the least recently written ones
 * that are not one-time marks — under that pressure a record can vanish before its TTL (a sign-in
 * or a token then fails, closed), a mark never does (a replay would then succeed): when marks fill
 * the budget, writes fail. Stated in SECURITY.md.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemoryWith = (options: MemoryOptions = {}): Effect.Effect<StoreShape> =>
  Effect.sync(() => {
    const maxBytes = options.maxBytes ?? defaultMemoryBytes
    const entries = new Map<string, MemoryEntry>()
    const memoryEntry = makeMemoryEntry()
    let writes = 0
    let bytes = 0
    const remove = (key: string) => {
      const entry = entries.get(key)
      if (entry === undefined) return
      entries.delete(key)
      bytes -= costOf(key, entry)
    }
    const live = (key: string, now: number) => {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (entry.expiresAt <= now) {
        remove(key)
        return undefined
      }
      return entry
    }
    const sweep = (now: number) => {
      for (const [key, entry] of entries) if (entry.expiresAt <= now) remove(key)
    }
    // Makes room for `cost` more bytes besides `key`: expired entries, then the oldest non-marks.
    const room = (key: string, cost: number, now: number) => {
      const replaced = entries.get(key)
      const over = () => bytes - (replaced === undefined ? 0 : costOf(key, replaced)) + cost > maxBytes
      if (!over()) return true
      sweep(now)
      for (const [oldest, entry] of entries) {
        if (!over()) break
        if (oldest !== key && !entry.mark) remove(oldest)
      }
      return !over()
    }
    // Re-inserted, so that the Map's order is the order of the last writes (oldest first). A
    // rewrite of a live mark stays a mark (a rotated refresh token's marker gets its answer).
    const put = (key: string, value: string, ttl: Duration.Input, now: number, mark: boolean) => {
      // Keys are built by concatenation (`<collection>:<id>`); a one-byte key is held flat.
      const stored = isLatin1(key) ? flat(key) : key
      const entry = memoryEntry(value, now + ttlMillis(ttl), mark || live(key, now)?.mark === true)
      if (!room(stored, costOf(stored, entry), now)) return false
      remove(stored)
      entries.set(stored, entry)
      bytes += costOf(stored, entry)
      if (++writes % 1024 === 0) sweep(now)
      return true
    }
    const full = (operation: "set" | "setIfAbsent") =>
      Effect.fail(
        new StoreError({
          operation,
          description: `store ${operation} failed: the memory store is full of one-time marks`,
        }),
      )
    return {
      get: (key) =>
        Clock.currentTimeMillis.pipe(Effect.map((now) => Option.fromNullishOr(storedValue(live(key, now))))),
      getSync: (key, now) => storedValue(live(key, now)),
      set: (key, value, ttl) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          put(key, value, ttl, now, false) ? Effect.void : full("set"),
        ),
      delete: (key) => Effect.sync(() => remove(key)),
      take: (key) =>
        Clock.currentTimeMillis.pipe(
          Effect.map((now) => {
            const entry = live(key, now)
            remove(key)
            return Option.fromNullishOr(storedValue(entry))
          }),
        ),
      // Atomic: the check and the write run in one synchronous step, no other fiber between them.
      setIfAbsent: (key, value, ttl) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (live(key, now) !== undefined) return Effect.succeed(false)
          return put(key, value, ttl, now, true) ? Effect.succeed(true) : full("setIfAbsent")
        }),
    }
  })

/**
 * `makeMemoryWith` with the default budget.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeMemory: Effect.Effect<StoreShape> = makeMemoryWith()

/**
 * @category layers
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Store> = Layer.effect(Store, makeMemory)

/**
 * The memory store with its own byte budget.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerMemoryWith = (options: MemoryOptions): Layer.Layer<Store> =>
  Layer.effect(Store, makeMemoryWith(options))

/**
 * A scripted store for tests: every operation defaults to a memory store and can be overridden
 * (e.g. to fail with `StoreError`); the overrides see the memory store they wrap. Overriding `get`
 * drops the memory store's `getSync`, so every read goes through the override.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTest = (overrides: (memory: StoreShape) => Partial<StoreShape>): Layer.Layer<Store> =>
  Layer.effect(
    Store,
    Effect.map(makeMemory, (memory) => {
      const scripted = overrides(memory)
      if (scripted.get === undefined) return { ...memory, ...scripted }
      const { getSync: _, ...rest } = memory
      return { ...rest, ...scripted }
    }),
  )

/**
 * Whether `text` is well-formed UTF-16 (no lone surrogate; `String.prototype.isWellFormed`). A
 * store that keeps text as UTF-8 (PostgreSQL, Redis, SQLite) would write a lone surrogate as
 * U+FFFD, so `"k\uD800"`, `"k\uDFFF"` and `"k\uFFFD"` would become one key.
 *
 * @category utils
 * @since 0.1.0
 */
export const isWellFormed = (text: string): boolean =>
  // The built-in (ES2024) where the runtime has it: no regular expression over every key.
  typeof (text as { isWellFormed?: () => boolean }).isWellFormed === "function"
    ? (text as unknown as { isWellFormed: () => boolean }).isWellFormed()
    : !/\p{Cs}/u.test(text)

/**
 * The `StoreError` for a key or value that is not well-formed UTF-16, or `undefined` when all
 * are: the guard of stores that keep text as UTF-8, where two such keys would be one. Core never
 * writes one (hashed ids are hashed losslessly; request input with one is refused at the edge).
 *
 * @category constructors
 * @since 0.1.0
 */
export const illFormed = (
  operation: StoreError["operation"],
  texts: ReadonlyArray<string>,
): StoreError | undefined =>
  texts.every(isWellFormed)
    ? undefined
    : new StoreError({
        operation,
        description: `store ${operation} failed: a key or value holds a lone UTF-16 surrogate, which UTF-8 cannot store`,
      })

/**
 * `store` refusing, with `illFormed`'s `StoreError`, every key or value that is not well-formed
 * UTF-16, before the backend sees it (`getSync` throws, so its caller asks `get`). For stores that
 * keep text as UTF-8: without it two distinct keys could read and overwrite one record.
 *
 * @category constructors
 * @since 0.1.0
 */
export const refusingIllFormed = (store: StoreShape): StoreShape => {
  const guard =
    <A>(operation: StoreError["operation"], run: () => Effect.Effect<A, StoreError>) =>
    (...texts: ReadonlyArray<string>): Effect.Effect<A, StoreError> => {
      const refused = illFormed(operation, texts)
      return refused === undefined ? run() : Effect.fail(refused)
    }
  const getSync = store.getSync
  return {
    get: (key) => guard("get", () => store.get(key))(key),
    set: (key, value, ttl) => guard("set", () => store.set(key, value, ttl))(key, value),
    delete: (key) => guard("delete", () => store.delete(key))(key),
    take: (key) => guard("take", () => store.take(key))(key),
    setIfAbsent: (key, value, ttl) =>
      guard("setIfAbsent", () => store.setIfAbsent(key, value, ttl))(key, value),
    ...(getSync === undefined
      ? {}
      : {
          getSync: (key: string, nowMillis: number) => {
            if (!isWellFormed(key)) throw illFormed("get", [key])
            return getSync(key, nowMillis)
          },
        }),
  }
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const storeError = (operation: StoreError["operation"], cause: unknown): StoreError =>
  new StoreError({
    operation,
    // Only the kind of failure: a backend's message may quote the command, i.e. a key or value.
    description: `store ${operation} failed${cause instanceof Error ? `: ${cause.constructor.name}` : ""}`,
  })

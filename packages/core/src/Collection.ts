/**
 * A typed collection over the `Store` port: a key prefix, a Schema codec, and the protection the
 * data needs.
 *
 * Pure core over the `Store` and `StorageKeys` ports.
 * - `hashKey`: the id is a bearer secret (code, refresh token, transaction id); it is stored only
 *   as its keyed hash, so a dump of the store yields no usable secret. Written under the newest
 *   key's hash, dropping a copy under an older key's (`setIfAbsent`: under every key's); read, taken and deleted under every configured
 *   key's hash, newest first, so a rotation of the storage secret does not lose the records
 *   written before it (refresh tokens, codes, sign-ins in progress).
 * - `encrypt`: the value holds tokens; it is stored AES-256-GCM encrypted with the key id.
 * A stored value that does not decrypt or decode is a miss, logged as a warning without the value,
 * never a crash: a store shared across versions or partially corrupted must not take the proxy
 * down.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Option, Schema } from "effect"
import type { StoreError } from "./OAuthError.ts"
import type { StorageKeysShape } from "./StorageKeys.ts"
import type { StoreShape } from "./Store.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Collection<A> {
  readonly get: (id: string) => Effect.Effect<Option.Option<A>, StoreError>
  readonly set: (id: string, value: A, ttl: Duration.Input) => Effect.Effect<void, StoreError>
  readonly delete: (id: string) => Effect.Effect<void, StoreError>
  readonly take: (id: string) => Effect.Effect<Option.Option<A>, StoreError>
  /**
   * Stores `value` only when `id` holds no live record, atomically (`Store.setIfAbsent`): `true`
   * when written. With hashed ids it is written under every configured key's hash, so a record
   * under any of them (an older key's, or one written by an instance that knows only older keys)
   * counts as present.
   */
  readonly setIfAbsent: (id: string, value: A, ttl: Duration.Input) => Effect.Effect<boolean, StoreError>
  /**
   * Present when the store and the keys answer synchronously (`Store.getSync`,
   * `StorageKeys.decryptSync`) and ids are not hashed: `get` at `nowMillis` without the Effect
   * runtime. `undefined` means "ask `get`" (a record that does not decrypt or decode: `get` logs
   * it and answers none).
   */
  readonly getSync?: (id: string, nowMillis: number) => Option.Option<A> | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Store the id only as its keyed hash (for ids that are bearer secrets). */
  readonly hashKey?: boolean
  /** Encrypt the value (for values that hold tokens). */
  readonly encrypt?: boolean
  /**
   * A field of the value that repeats the id: not stored, put back from the id on read (records
   * that still hold it decode as before).
   */
  readonly idField?: string
  /**
   * A cheap check for a parsed record that is already its own decoded value (what the Schema would
   * give back, no excess members): such a record skips the Schema decode; any other goes through
   * it, so old record shapes decode as before. It must be derived from the Schema and tested
   * against it (see `UpstreamTokenSet.isDecoded`).
   */
  readonly decoded?: (value: unknown) => boolean
}

/**
 * Builds a collection named `name` (the key prefix) storing `schema` values as JSON.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <S extends Schema.Codec<unknown, unknown>>(
  store: StoreShape,
  keys: StorageKeysShape,
  name: string,
  schema: S,
  options: Options = {},
): Collection<S["Type"]> => {
  const codec = schema as Schema.Codec<S["Type"], unknown>
  const encodeValue = Schema.encodeSync(codec)
  const idField = options.idField
  const encodeJson = (id: string, value: S["Type"]) => {
    const encoded = encodeValue(value)
    if (idField === undefined || typeof encoded !== "object" || encoded === null)
      return JSON.stringify(encoded)
    const { [idField]: repeated, ...rest } = encoded as Record<string, unknown>
    return JSON.stringify(repeated === id ? rest : encoded)
  }
  const schemaDecode = Schema.decodeUnknownOption(codec)
  const isDecoded = options.decoded
  const decodeValue =
    isDecoded === undefined
      ? schemaDecode
      : (parsed: unknown): Option.Option<S["Type"]> =>
          isDecoded(parsed) ? Option.some(parsed as S["Type"]) : schemaDecode(parsed)
  // JSON.parse then the Schema: the same verdicts as `Schema.fromJsonString`, ~2 µs cheaper a read.
  const decodeJson = (id: string, json: string): Option.Option<S["Type"]> => {
    let parsed: unknown
    try {
      parsed = JSON.parse(json)
    } catch {
      return Option.none()
    }
    if (idField !== undefined && typeof parsed === "object" && parsed !== null && !(idField in parsed))
      (parsed as Record<string, unknown>)[idField] = id
    return decodeValue(parsed)
  }
  const encode = (id: string, value: S["Type"]): Effect.Effect<string> =>
    options.encrypt === true ? keys.encrypt(encodeJson(id, value)) : Effect.succeed(encodeJson(id, value))
  const miss = (why: string) =>
    Effect.logWarning(`stored record ${why}; treated as missing`).pipe(
      Effect.annotateLogs({ collection: name }),
      Effect.as(Option.none<S["Type"]>()),
    )
  const decoded = (id: string, json: string): Effect.Effect<Option.Option<S["Type"]>> => {
    const value = decodeJson(id, json)
    return Option.isSome(value) ? Effect.succeed(value) : miss("does not decode")
  }
  // Plain functions, no generator: a read is on every cold bearer check.
  const decode = (id: string, found: Option.Option<string>): Effect.Effect<Option.Option<S["Type"]>> => {
    if (Option.isNone(found)) return Effect.succeedNone
    if (options.encrypt !== true) return decoded(id, found.value)
    return Effect.flatMap(keys.decrypt(found.value), (plain) =>
      Option.isNone(plain) ? miss("does not decrypt") : decoded(id, plain.value),
    )
  }
  // A store failure (`getSync` throws) is `null`: `get` reads again and reports it.
  const read = (
    getSync: (key: string, now: number) => string | undefined,
    id: string,
    now: number,
  ): string | undefined | null => {
    try {
      return getSync(`${name}:${id}`, now)
    } catch {
      return null
    }
  }
  const getStored = store.getSync
  // The stored text as plaintext: decrypted synchronously, or as is.
  const plainOf = options.encrypt === true ? keys.decryptSync : (stored: string): string | undefined => stored
  const getSync =
    getStored === undefined || plainOf === undefined || options.hashKey === true
      ? undefined
      : (id: string, now: number): Option.Option<S["Type"]> | undefined => {
          const found = read(getStored, id, now)
          if (found === null) return undefined
          if (found === undefined) return Option.none()
          const plain = plainOf(found)
          const value = plain === undefined ? undefined : decodeJson(id, plain)
          return value !== undefined && Option.isSome(value) ? value : undefined
        }
  // Hashed ids: the first key (newest first) under whose hash `op` finds the record.
  const firstFound = (
    id: string,
    op: (key: string) => Effect.Effect<Option.Option<string>, StoreError>,
  ): Effect.Effect<Option.Option<string>, StoreError> =>
    Effect.flatMap(keys.hashes(id), (hashes) => {
      const at = (i: number): Effect.Effect<Option.Option<string>, StoreError> =>
        i >= hashes.length
          ? Effect.succeedNone
          : Effect.flatMap(op(`${name}:${hashes[i]}`), (found) =>
              Option.isSome(found) ? Effect.succeed(found) : at(i + 1),
            )
      return at(0)
    })
  return {
    ...(getSync === undefined ? {} : { getSync }),
    get: (id) =>
      Effect.flatMap(
        options.hashKey === true ? firstFound(id, store.get) : store.get(`${name}:${id}`),
        (found) => decode(id, found),
      ),
    set: (id, value, ttl) =>
      options.hashKey === true
        ? // Under the newest key's hash; a copy under an older key's hash (written before a
          // rotation) is removed, or a later `take` would leave it behind as a second use.
          Effect.flatMap(Effect.all([keys.hashes(id), encode(id, value)]), ([[newest, ...older], v]) =>
            Effect.andThen(
              store.set(`${name}:${newest}`, v, ttl),
              Effect.forEach(older, (h) => store.delete(`${name}:${h}`), { discard: true }),
            ),
          )
        : Effect.flatMap(encode(id, value), (v) => store.set(`${name}:${id}`, v, ttl)),
    delete: (id) =>
      options.hashKey === true
        ? Effect.flatMap(keys.hashes(id), (hashes) =>
            Effect.forEach(hashes, (h) => store.delete(`${name}:${h}`), { discard: true }),
          )
        : store.delete(`${name}:${id}`),
    take: (id) =>
      Effect.flatMap(
        options.hashKey === true ? firstFound(id, store.take) : store.take(`${name}:${id}`),
        (found) => decode(id, found),
      ),
    setIfAbsent: (id, value, ttl) =>
      Effect.flatMap(encode(id, value), (v) =>
        options.hashKey === true
          ? // One atomic write under every key's hash, newest first, stopping at the first refused:
            // written only when all were. During a rolling rotation an instance that knows only the
            // old key still writes under that key's hash, so it and the upgraded instances contend
            // on one atomic step (reading older hashes and writing under the newest one would let
            // one assertion through once on each side).
            Effect.flatMap(keys.hashes(id), (hashes) => {
              const at = (i: number): Effect.Effect<boolean, StoreError> =>
                i >= hashes.length
                  ? Effect.succeed(true)
                  : Effect.flatMap(store.setIfAbsent(`${name}:${hashes[i]}`, v, ttl), (written) =>
                      written ? at(i + 1) : Effect.succeed(false),
                    )
              return at(0)
            })
          : store.setIfAbsent(`${name}:${id}`, v, ttl),
      ),
  }
}

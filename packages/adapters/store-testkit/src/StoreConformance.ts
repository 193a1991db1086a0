/**
 * The conformance suite every `Store` layer must pass: TTL expiry, atomic `take`, overwrite,
 * deletes, large values, unusual keys and values (lone surrogates included: distinct or refused,
 * never merged), and core's protected collections on top.
 *
 * Testing helper over core's `Store`, `Collection` and `StorageKeys`, for `@effect/vitest`.
 * `suite(name, layer)` registers the whole suite in a vitest file; `checks` are the same
 * properties as plain Effects, so a kit's own tests can show that each one catches a broken store.
 * The layer is built afresh for every test; keys are namespaced per test so a persistent or shared
 * store (a developer's Redis) needs no cleanup between runs.
 *
 * @since 0.1.0
 */
import { describe, it } from "@effect/vitest"
import { Collection, type OAuthError, StorageKeys, Store } from "@oidc-proxy/core"
import { Clock, Duration, Effect, type Layer, Option, Redacted, Result, Schema } from "effect"
import { TestClock } from "effect/testing"

/**
 * @category models
 * @since 0.1.0
 */
export interface SuiteOptions {
  /**
   * Where the store takes time from.
   * - `"test"` (default): it reads Effect's `Clock`, so the suite drives expiry with `TestClock`
   *   (instant, exact).
   * - `"live"`: expiry happens outside Effect (Redis expires keys server-side), so the suite uses
   *   real TTLs of a few hundred milliseconds and sleeps.
   */
  readonly clock?: "test" | "live"
}

/**
 * How a check makes time pass: a TTL short enough to wait out, and the way to wait.
 *
 * @category models
 * @since 0.1.0
 */
export interface Time {
  readonly shortTtl: Duration.Duration
  readonly longTtl: Duration.Duration
  readonly pass: (duration: Duration.Duration) => Effect.Effect<void>
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const time = (clock: "test" | "live"): Time =>
  clock === "test"
    ? { shortTtl: Duration.seconds(10), longTtl: Duration.hours(1), pass: (d) => TestClock.adjust(d) }
    : // 300 ms keeps "readable right after set" safe on a loaded machine while the suite stays fast.
      { shortTtl: Duration.millis(300), longTtl: Duration.minutes(5), pass: (d) => Effect.sleep(d) }

/**
 * A conformance check: an Effect over the store under test that fails (or dies on an assertion)
 * when the store breaks the port's contract.
 *
 * @category models
 * @since 0.1.0
 */
export type Check = (
  time: Time,
) => Effect.Effect<void, OAuthError.StoreError | Schema.SchemaError, Store.Store>

class ConformanceFailure extends Error {
  override readonly name = "ConformanceFailure"
}

const expect = (condition: boolean, message: string): Effect.Effect<void> =>
  condition ? Effect.void : Effect.die(new ConformanceFailure(message))

const expectSome = (found: Option.Option<string>, expected: string, what: string) =>
  expect(
    Option.isSome(found) && found.value === expected,
    `${what}: expected the stored value, got ${Option.isSome(found) ? `another value (length ${found.value.length})` : "none"}`,
  )

const expectNone = (found: Option.Option<unknown>, what: string) =>
  expect(Option.isNone(found), `${what}: expected none, got a value`)

/** A per-test key namespace, so runs against a persistent store never see each other's keys. */
const namespace = Effect.sync(() => `conformance:${crypto.randomUUID()}:`)

const secret = (s: string) => Redacted.make(`${s}-conformance-secret-0123456789abcdef`)
const oldKey: StorageKeys.KeySecret = { kid: "old", secret: secret("old") }
const newKey: StorageKeys.KeySecret = { kid: "new", secret: secret("new") }
const storageKeys = (secrets: readonly [StorageKeys.KeySecret, ...Array<StorageKeys.KeySecret>]) =>
  StorageKeys.make(secrets).pipe(Effect.orDie)

const Sample = Schema.Struct({ token: Schema.String, n: Schema.Number })

/**
 * Every property of the `Store` port, by name (the name is the test name).
 *
 * @category testing
 * @since 0.1.0
 */
export const checks: Readonly<Record<string, Check>> = {
  "get - an absent key is none": () =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      yield* expectNone(yield* s.get(`${ns}absent`), "get of a key never set")
    }),

  "set/get - a value is readable before its TTL passes and gone after": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const k = `${yield* namespace}k`
      yield* s.set(k, "v", t.shortTtl)
      yield* expectSome(yield* s.get(k), "v", "get right after set")
      yield* t.pass(Duration.divideUnsafe(t.shortTtl, 2))
      yield* expectSome(yield* s.get(k), "v", "get at half the TTL")
      yield* t.pass(Duration.times(t.shortTtl, 1.5))
      yield* expectNone(yield* s.get(k), "get after the TTL")
      yield* expectNone(yield* s.take(k), "take after the TTL")
    }),

  "getSync - when the store offers it, the same answers as get, before and after the TTL": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const getSync = s.getSync
      if (getSync === undefined) return
      const ns = yield* namespace
      const values = ["v", "", "日本語 🔑", `v1.k1.AAECAwQFBgcICQoL.${"CQkJ".repeat(30)}`]
      for (const [i, v] of values.entries()) yield* s.set(`${ns}${i}`, v, t.shortTtl)
      const same = (what: string) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          for (const key of [...values.keys()].map((i) => `${ns}${i}`).concat(`${ns}absent`)) {
            const sync = getSync(key, now)
            const found = yield* s.get(key)
            yield* expect(
              Option.getOrUndefined(found) === sync,
              `${what}: getSync and get disagree on ${key.slice(ns.length)}`,
            )
          }
        })
      yield* same("right after set")
      yield* t.pass(Duration.times(t.shortTtl, 2))
      yield* same("after the TTL")
    }),

  "set - TTLs are per key": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      yield* s.set(`${ns}short`, "a", t.shortTtl)
      yield* s.set(`${ns}long`, "b", t.longTtl)
      yield* t.pass(Duration.times(t.shortTtl, 2))
      yield* expectNone(yield* s.get(`${ns}short`), "short-lived key after its TTL")
      yield* expectSome(yield* s.get(`${ns}long`), "b", "long-lived key")
    }),

  "set - overwriting replaces the value and the TTL": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const k = `${yield* namespace}k`
      yield* s.set(k, "first", t.shortTtl)
      yield* s.set(k, "second", t.longTtl)
      yield* expectSome(yield* s.get(k), "second", "get after overwrite")
      yield* t.pass(Duration.times(t.shortTtl, 2))
      yield* expectSome(yield* s.get(k), "second", "get after the first TTL would have passed")
      yield* s.set(k, "third", t.shortTtl)
      yield* t.pass(Duration.times(t.shortTtl, 2))
      yield* expectNone(yield* s.get(k), "get after a shorter overwrite's TTL")
    }),

  "delete - removes the key, and deleting an absent key succeeds": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      yield* s.set(`${ns}k`, "v", t.longTtl)
      yield* s.set(`${ns}other`, "w", t.longTtl)
      yield* s.delete(`${ns}k`)
      yield* expectNone(yield* s.get(`${ns}k`), "get after delete")
      yield* expectSome(yield* s.get(`${ns}other`), "w", "a key that was not deleted")
      yield* s.delete(`${ns}k`)
      yield* s.delete(`${ns}never-set`)
    }),

  "take - returns the value once and removes the key": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const k = `${yield* namespace}k`
      yield* expectNone(yield* s.take(k), "take of an absent key")
      yield* s.set(k, "v", t.longTtl)
      yield* expectSome(yield* s.take(k), "v", "first take")
      yield* expectNone(yield* s.take(k), "second take")
      yield* expectNone(yield* s.get(k), "get after take")
    }),

  "take - of 50 concurrent takes of one key exactly one sees the value": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const k = `${yield* namespace}code`
      yield* s.set(k, "single-use", t.longTtl)
      const results = yield* Effect.all(
        Array.from({ length: 50 }, () => s.take(k)),
        { concurrency: "unbounded" },
      )
      const winners = results.filter(Option.isSome)
      yield* expect(winners.length === 1, `exactly one take wins, got ${winners.length}`)
      yield* expectSome(winners[0] ?? Option.none(), "single-use", "the winning take")
      yield* expectNone(yield* s.get(k), "get after the takes")
    }),

  "setIfAbsent - writes once, refuses while live, writes again after expiry": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const k = `${yield* namespace}jti`
      // The live part uses the long TTL, so a slow machine cannot expire the value mid-check.
      yield* expect(yield* s.setIfAbsent(k, "first", t.longTtl), "the first setIfAbsent writes")
      yield* expect(!(yield* s.setIfAbsent(k, "second", t.longTtl)), "a second one is refused while live")
      yield* expectSome(yield* s.get(k), "first", "the refused call leaves the value as it was")
      const expiring = `${k}-expiring`
      yield* expect(yield* s.setIfAbsent(expiring, "first", t.shortTtl), "a write with a short TTL")
      yield* t.pass(Duration.times(t.shortTtl, 2))
      yield* expect(yield* s.setIfAbsent(expiring, "third", t.longTtl), "after expiry it writes again")
      yield* expectSome(yield* s.get(expiring), "third", "get after the write over an expired value")
      yield* expect(!(yield* s.setIfAbsent(expiring, "fourth", t.longTtl)), "and that write is live")
      const taken = `${k}-taken`
      yield* s.set(taken, "v", t.longTtl)
      yield* expectSome(yield* s.take(taken), "v", "take")
      yield* expect(yield* s.setIfAbsent(taken, "w", t.longTtl), "after a take it writes again")
    }),

  "setIfAbsent - of 50 concurrent calls for one key exactly one writes": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const k = `${yield* namespace}jti`
      const results = yield* Effect.all(
        Array.from({ length: 50 }, (_, i) => s.setIfAbsent(k, `v${i}`, t.longTtl)),
        { concurrency: "unbounded" },
      )
      const winner = results.indexOf(true)
      yield* expect(
        results.filter((r) => r).length === 1,
        `exactly one call writes, got ${results.filter((r) => r).length}`,
      )
      yield* expectSome(yield* s.get(k), `v${winner}`, "the value is the winner's")
    }),

  "set/get/take - a 1 MB value round-trips": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const big = `${"0123456789abcdef".repeat(65_536)}é🔑\n`
      yield* s.set(`${ns}big`, big, t.longTtl)
      yield* expectSome(yield* s.get(`${ns}big`), big, "get of a 1 MB value")
      yield* expectSome(yield* s.take(`${ns}big`), big, "take of a 1 MB value")
    }),

  "set/get - values with unicode, newlines, quotes and JSON round-trip unchanged": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      for (const [i, value] of unusualValues.entries()) yield* s.set(`${ns}${i}`, value, t.longTtl)
      for (const [i, value] of unusualValues.entries())
        yield* expectSome(yield* s.get(`${ns}${i}`), value, `value #${i}`)
    }),

  "set/get/delete - unusual keys are distinct and kept verbatim": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const keys = unusualKeys.map((k) => `${ns}${k}`)
      // Also bare (unprefixed) keys, which a store must not trim, fold or reject. They are cleared
      // first because they are shared by every run against a persistent store.
      const bare = ["", " ", "\u00a0"]
      const all = [...keys, ...bare]
      yield* Effect.forEach(bare, s.delete)
      yield* Effect.forEach(all, (k, i) => s.set(k, `value-${i}`, t.longTtl))
      yield* Effect.forEach(all, (k, i) =>
        Effect.flatMap(s.get(k), (v) => expectSome(v, `value-${i}`, `key #${i}`)),
      )
      yield* Effect.forEach(all, s.delete)
      yield* Effect.forEach(all, (k, i) =>
        Effect.flatMap(s.get(k), (v) => expectNone(v, `deleted key #${i}`)),
      )
    }),

  "Collection hashKey - the id is never stored in clear": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const keys = yield* storageKeys([newKey])
      const codes = Collection.make(s, keys, `${ns}code`, Sample, { hashKey: true })
      const id = `code-${crypto.randomUUID()}`
      yield* codes.set(id, { token: "t", n: 1 }, t.longTtl)
      yield* expectNone(yield* s.get(`${ns}code:${id}`), "raw read under the clear id")
      const raw = yield* s.get(`${ns}code:${yield* keys.hash(id)}`)
      yield* expect(Option.isSome(raw), "raw read under the hashed id finds the record")
      yield* expect(Option.isSome(raw) && !raw.value.includes(id), "the stored value holds no id")
      const found = yield* codes.take(id)
      yield* expect(Option.isSome(found) && found.value.n === 1, "take by the clear id finds the record")
      yield* expectNone(yield* codes.take(id), "second take")
    }),

  "Collection encrypt - the value is never stored in clear": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const keys = yield* storageKeys([newKey])
      const sets = Collection.make(s, keys, `${ns}upstream`, Sample, { encrypt: true })
      const token = `tok-${crypto.randomUUID()}`
      yield* sets.set("id1", { token, n: 2 }, t.longTtl)
      const raw = yield* s.get(`${ns}upstream:id1`)
      yield* expect(Option.isSome(raw), "raw read finds the record")
      yield* expect(Option.isSome(raw) && !raw.value.includes(token), "the stored value holds no token")
      yield* expect(Option.isSome(raw) && raw.value.startsWith("v1.new."), "the record names its key id")
      const found = yield* sets.get("id1")
      yield* expect(Option.isSome(found) && found.value.token === token, "get decrypts the record")
    }),

  "Collection encrypt - a record written under an old key still decrypts after rotation": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const before = Collection.make(s, yield* storageKeys([oldKey]), `${ns}up`, Sample, { encrypt: true })
      yield* before.set("id1", { token: "old-token", n: 3 }, t.longTtl)
      const after = Collection.make(s, yield* storageKeys([newKey, oldKey]), `${ns}up`, Sample, {
        encrypt: true,
      })
      const found = yield* after.get("id1")
      yield* expect(Option.isSome(found) && found.value.token === "old-token", "old record after rotation")
      yield* after.set("id2", { token: "new-token", n: 4 }, t.longTtl)
      const raw = yield* s.get(`${ns}up:id2`)
      yield* expect(Option.isSome(raw) && raw.value.startsWith("v1.new."), "new writes use the new key")
      const retired = Collection.make(s, yield* storageKeys([newKey]), `${ns}up`, Sample, { encrypt: true })
      yield* expectNone(yield* retired.get("id1"), "a record under a retired key")
    }),

  "Collection hashKey - a record written under an old key's hash is found, taken and deleted after rotation":
    (t) =>
      Effect.gen(function* () {
        const s = yield* Store.Store
        const ns = yield* namespace
        const options = { hashKey: true, encrypt: true } as const
        const before = Collection.make(s, yield* storageKeys([oldKey]), `${ns}rt`, Sample, options)
        yield* before.set("refresh-1", { token: "t1", n: 1 }, t.longTtl)
        yield* before.set("refresh-2", { token: "t2", n: 2 }, t.longTtl)
        yield* before.set("refresh-3", { token: "t3", n: 3 }, t.longTtl)
        const after = Collection.make(s, yield* storageKeys([newKey, oldKey]), `${ns}rt`, Sample, options)
        const found = yield* after.get("refresh-1")
        yield* expect(Option.isSome(found) && found.value.token === "t1", "get finds the old hash")
        const taken = yield* after.take("refresh-2")
        yield* expect(Option.isSome(taken) && taken.value.token === "t2", "take finds the old hash")
        yield* expectNone(yield* after.get("refresh-2"), "taken once")
        yield* after.delete("refresh-3")
        yield* expectNone(yield* before.get("refresh-3"), "delete removes the old hash's record")
        yield* after.set("refresh-4", { token: "t4", n: 4 }, t.longTtl)
        yield* expectNone(yield* before.get("refresh-4"), "new writes are under the new key's hash")
        yield* expect(Option.isSome(yield* after.get("refresh-4")), "and found there")
      }),

  "Collection hashKey - setIfAbsent sees a record under an old key's hash": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const before = Collection.make(s, yield* storageKeys([oldKey]), `${ns}aj`, Sample, { hashKey: true })
      yield* expect(yield* before.setIfAbsent("jti-1", { token: "a", n: 1 }, t.longTtl), "first write")
      yield* expect(!(yield* before.setIfAbsent("jti-1", { token: "b", n: 2 }, t.longTtl)), "refused")
      const after = Collection.make(s, yield* storageKeys([newKey, oldKey]), `${ns}aj`, Sample, {
        hashKey: true,
      })
      yield* expect(!(yield* after.setIfAbsent("jti-1", { token: "c", n: 3 }, t.longTtl)), "old hash counts")
      yield* expect(yield* after.setIfAbsent("jti-2", { token: "d", n: 4 }, t.longTtl), "a new id writes")
      // Written under the old key's hash as well, so an instance that knows only the old key sees it.
      yield* expect(Option.isSome(yield* before.get("jti-2")), "also under the old key's hash")
    }),

  "Collection hashKey - setIfAbsent holds across instances mid-rotation (old keys only / new and old)": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      // A rolling restart: some instances already have the new key, others still only the old one.
      const stale = Collection.make(s, yield* storageKeys([oldKey]), `${ns}aj`, Sample, { hashKey: true })
      const upgraded = Collection.make(s, yield* storageKeys([newKey, oldKey]), `${ns}aj`, Sample, {
        hashKey: true,
      })
      const v = { token: "a", n: 1 }
      yield* expect(yield* upgraded.setIfAbsent("jti-1", v, t.longTtl), "first write, upgraded instance")
      yield* expect(!(yield* stale.setIfAbsent("jti-1", v, t.longTtl)), "refused on an old-key instance")
      yield* expect(yield* stale.setIfAbsent("jti-2", v, t.longTtl), "first write, old-key instance")
      yield* expect(!(yield* upgraded.setIfAbsent("jti-2", v, t.longTtl)), "refused on an upgraded one")
      for (let i = 0; i < 10; i++) {
        const results = yield* Effect.all(
          [stale, upgraded, stale, upgraded].map((c) => c.setIfAbsent(`race-${i}`, v, t.longTtl)),
          { concurrency: "unbounded" },
        )
        yield* expect(
          results.filter((r) => r).length === 1,
          `exactly one concurrent call writes, got ${results.filter((r) => r).length}`,
        )
      }
    }),

  "keys - keys that differ only in a lone UTF-16 surrogate stay distinct, or are refused": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const keys = surrogateKeys.map((k) => `${ns}${k}`)
      const stored: Array<boolean> = []
      for (const [i, key] of keys.entries()) {
        const written = yield* Effect.result(s.set(key, `v${i}`, t.longTtl))
        // Refusing is allowed for a key that is not well-formed UTF-16, never for one that is.
        yield* expect(
          Result.isSuccess(written) || !Store.isWellFormed(key),
          `set of the well-formed key #${i} was refused`,
        )
        stored.push(Result.isSuccess(written))
      }
      for (const [i, key] of keys.entries()) {
        if (!stored[i]) continue
        yield* expectSome(yield* s.get(key), `v${i}`, `get of key #${i} (others differ in a surrogate)`)
      }
      for (const [i, key] of keys.entries()) {
        if (!stored[i]) continue
        yield* expectSome(yield* s.take(key), `v${i}`, `take of key #${i} (others differ in a surrogate)`)
      }
    }),

  "values - a value with a lone UTF-16 surrogate reads back as written, or is refused": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      for (const [i, value] of surrogateKeys.entries()) {
        const written = yield* Effect.result(s.set(`${ns}${i}`, value, t.longTtl))
        if (Result.isFailure(written)) {
          yield* expect(!Store.isWellFormed(value), `set of the well-formed value #${i} was refused`)
          continue
        }
        yield* expectSome(yield* s.get(`${ns}${i}`), value, `get of value #${i}`)
      }
    }),

  "Collection - hashed ids that differ only in a lone UTF-16 surrogate are different records": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const hashed = Collection.make(s, yield* storageKeys([newKey]), `${ns}h`, Sample, { hashKey: true })
      for (const [n, id] of surrogateKeys.entries()) yield* hashed.set(id, { token: id, n }, t.longTtl)
      for (const [n, id] of surrogateKeys.entries()) {
        const found = yield* hashed.get(id)
        yield* expect(
          Option.isSome(found) && found.value.n === n,
          `hashed id #${n}: expected its own record, got ${Option.isSome(found) ? `record #${found.value.n}` : "none"}`,
        )
      }
      yield* expect(
        (yield* hashed.setIfAbsent("k\uDFFF", { token: "x", n: 99 }, t.longTtl)) === false,
        "setIfAbsent of a hashed id that holds a record",
      )
    }),

  "Collection - a tampered or undecodable record is a miss, not a failure": (t) =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const ns = yield* namespace
      const keys = yield* storageKeys([newKey])
      const sealed = Collection.make(s, keys, `${ns}sealed`, Sample, { encrypt: true })
      yield* sealed.set("id1", { token: "secret", n: 5 }, t.longTtl)
      const raw = yield* s.get(`${ns}sealed:id1`)
      yield* expect(Option.isSome(raw), "raw read finds the record")
      if (Option.isSome(raw)) {
        const last = raw.value.at(-2) === "A" ? "B" : "A"
        yield* s.set(`${ns}sealed:id1`, `${raw.value.slice(0, -2)}${last}${raw.value.at(-1)}`, t.longTtl)
      }
      yield* expectNone(yield* sealed.get("id1"), "get of a tampered ciphertext")
      yield* s.set(`${ns}sealed:id2`, "v1.new.@@@.###", t.longTtl)
      yield* expectNone(yield* sealed.take("id2"), "take of a malformed ciphertext")
      const plain = Collection.make(s, keys, `${ns}plain`, Sample)
      yield* s.set(`${ns}plain:id3`, "{not json", t.longTtl)
      yield* s.set(`${ns}plain:id4`, `{"token":42}`, t.longTtl)
      yield* expectNone(yield* plain.get("id3"), "get of invalid JSON")
      yield* expectNone(yield* plain.get("id4"), "get of JSON of the wrong shape")
    }),
}

const unusualKeys: ReadonlyArray<string> = [
  "plain",
  "Plain",
  "plain ",
  "with spaces in it",
  "a:b:c",
  "::",
  "k".repeat(1024),
  "é日本語🔑",
  "e\u0301", // "é" as e + combining accent: must not be normalised into "é" above
  "tab\there",
  "new\nline",
  "glob*?[x]",
  "'; DROP TABLE store; --",
  "%2F/../\\",
]

/**
 * Strings that a UTF-8 store writing a lone surrogate as U+FFFD would turn into fewer: a lone high
 * and a lone low surrogate, U+FFFD itself, the two surrogates swapped and paired (U+10000).
 */
const surrogateKeys: ReadonlyArray<string> = [
  "k\uD800",
  "k\uDFFF",
  "k\uFFFD",
  "k\uDFFF\uD800",
  "k\uD800\uDC00",
  "k",
]

const unusualValues: ReadonlyArray<string> = [
  "",
  " ",
  "line 1\nline 2\r\nline 3\n",
  "\ttabbed\t",
  "日本語 العربية עברית 🔑🎉 e\u0301",
  `"double" 'single' \`back\` \\ backslash`,
  JSON.stringify({ a: [1, "two", { three: null }], "k:e:y": "v\nw" }),
  "v1.kid.AAAA.BBBB",
]

/**
 * Registers the conformance suite for `layer` under `describe(name)`. Each test builds the layer
 * afresh.
 *
 * @example
 * ```ts
 * StoreConformance.suite("SqliteStore", SqliteStore.layer({ filename: ":memory:" }))
 * ```
 * @category testing
 * @since 0.1.0
 */
export const suite = <E>(
  name: string,
  layer: Layer.Layer<Store.Store, E>,
  options: SuiteOptions = {},
): void => {
  const clock = options.clock ?? "test"
  const t = time(clock)
  const test = clock === "test" ? it.effect : it.live
  describe(name, () => {
    for (const [title, check] of Object.entries(checks)) {
      test(title, () => check(t).pipe(Effect.provide(layer)))
    }
  })
}

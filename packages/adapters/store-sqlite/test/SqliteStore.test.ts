import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Store } from "@oidc-proxy/core"
import { Cause, Config, ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { afterAll } from "vitest"
import { SqliteStore } from "../src/index.ts"

const dir = mkdtempSync(join(tmpdir(), "sqlite-store-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const freshFile = () => join(dir, `store-${++files}.db`)

/** Reads the table through a second connection, as another process would. */
const withStore = <A, E>(f: (store: Store.StoreShape) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* f(yield* Store.Store)
  })

const rawRows = (filename: string) => {
  const db = new DatabaseSync(filename, { readOnly: true })
  try {
    return db.prepare("SELECT key, expires_at FROM oidc_proxy_store ORDER BY key").all()
  } finally {
    db.close()
  }
}

describe("SqliteStore", () => {
  it.effect("layer - values survive closing and reopening the file", () =>
    Effect.gen(function* () {
      const filename = freshFile()
      yield* withStore((s) => s.set("k", "kept", "1 hour")).pipe(
        Effect.provide(SqliteStore.layer({ filename })),
      )
      const found = yield* withStore((s) => s.get("k")).pipe(Effect.provide(SqliteStore.layer({ filename })))
      assert.deepStrictEqual(found, Option.some("kept"))
    }),
  )

  it.effect("layer - the file is in WAL mode", () =>
    Effect.gen(function* () {
      const filename = freshFile()
      yield* withStore((s) => s.set("k", "v", "1 hour")).pipe(Effect.provide(SqliteStore.layer({ filename })))
      const db = new DatabaseSync(filename)
      const mode = db.prepare("PRAGMA journal_mode").get()
      db.close()
      assert.strictEqual(mode?.["journal_mode"], "wal")
    }),
  )

  it.effect("purge - expired rows are deleted from the file in the background on the interval", () =>
    Effect.gen(function* () {
      const filename = freshFile()
      yield* Effect.gen(function* () {
        const s = yield* Store.Store
        yield* s.set("short", "a", "10 seconds")
        yield* s.set("long", "b", "1 hour")
        assert.strictEqual(rawRows(filename).length, 2)
        yield* TestClock.adjust("30 seconds")
        // Expired but not yet purged: reads already miss it, the row is still in the file.
        assert.deepStrictEqual(yield* s.get("short"), Option.none())
        assert.strictEqual(rawRows(filename).length, 2)
        yield* TestClock.adjust("31 seconds")
        assert.deepStrictEqual(
          rawRows(filename).map((row) => row["key"]),
          ["long"],
        )
        assert.deepStrictEqual(yield* s.get("long"), Option.some("b"))
      }).pipe(Effect.provide(SqliteStore.layer({ filename, purgeInterval: "1 minute" })))
    }),
  )

  it.effect("set - a locked database is a StoreError that names neither key nor value", () =>
    Effect.gen(function* () {
      const filename = freshFile()
      yield* Effect.gen(function* () {
        const s = yield* Store.Store
        const other = new DatabaseSync(filename)
        other.exec("BEGIN EXCLUSIVE")
        const exit = yield* Effect.exit(s.set("secret-key", "secret-value", "1 hour"))
        other.exec("ROLLBACK")
        other.close()
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = Cause.findErrorOption(exit.cause)
          assert.isTrue(Option.isSome(error), "a typed failure, not a defect")
          if (Option.isSome(error)) {
            assert.strictEqual(error.value._tag, "StoreError")
            assert.strictEqual(error.value.operation, "set")
            assert.notInclude(error.value.description, "secret")
            assert.include(error.value.description, "locked")
          }
        }
        yield* s.set("secret-key", "secret-value", "1 hour")
        assert.deepStrictEqual(yield* s.get("secret-key"), Option.some("secret-value"))
      }).pipe(Effect.provide(SqliteStore.layer({ filename, busyTimeout: "20 millis" })))
    }),
  )

  it.effect("layerConfig - reads the filename and the purge interval from Config", () =>
    Effect.gen(function* () {
      const filename = freshFile()
      const config = ConfigProvider.fromUnknown({ STORE_FILE: filename, STORE_PURGE_INTERVAL: "5 seconds" })
      const layer = SqliteStore.layerConfig({
        filename: Config.String("STORE_FILE"),
        purgeInterval: Config.Duration("STORE_PURGE_INTERVAL"),
      }).pipe(Layer.provide(ConfigProvider.layer(config)))
      yield* Effect.gen(function* () {
        yield* (yield* Store.Store).set("k", "v", "1 second")
        assert.strictEqual(rawRows(filename).length, 1)
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(rawRows(filename).length, 0)
      }).pipe(Effect.provide(layer))
    }),
  )

  it.effect("layer - a file that cannot be opened fails the layer build as a defect", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        withStore(() => Effect.void).pipe(
          Effect.provide(SqliteStore.layer({ filename: join(dir, "no-such-dir", "store.db") })),
        ),
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    }),
  )

  describe("file mode", () => {
    const modeOf = (file: string) => statSync(file).mode & 0o777
    /** Runs `f` under umask 0022 (the common default, which leaves new files world-readable). */
    const underUmask022 = <A, E>(f: Effect.Effect<A, E>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => process.umask(0o022)),
        () => f,
        (previous) => Effect.sync(() => void process.umask(previous)),
      )

    it.effect("layer - under umask 0022 the file, -wal and -shm are created 0600", () =>
      underUmask022(
        Effect.gen(function* () {
          const filename = freshFile()
          yield* withStore((s) =>
            Effect.gen(function* () {
              yield* s.set("k", "v", "1 hour")
              // While open in WAL mode after a write, SQLite keeps both side files.
              for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
                assert.isTrue(existsSync(file), file)
                assert.strictEqual(modeOf(file).toString(8), "600", file)
              }
            }),
          ).pipe(Effect.provide(SqliteStore.layer({ filename })))
        }),
      ),
    )

    it.effect("layer - an existing file and -wal/-shm readable by others are tightened to 0600", () =>
      underUmask022(
        Effect.gen(function* () {
          const filename = freshFile()
          yield* withStore((s) => s.set("k", "kept", "1 hour")).pipe(
            Effect.provide(SqliteStore.layer({ filename })),
          )
          writeFileSync(`${filename}-wal`, "")
          writeFileSync(`${filename}-shm`, "")
          for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) chmodSync(file, 0o644)
          const found = yield* withStore((s) =>
            Effect.gen(function* () {
              for (const file of [filename, `${filename}-wal`, `${filename}-shm`])
                assert.strictEqual(modeOf(file).toString(8), "600", file)
              return yield* s.get("k")
            }),
          ).pipe(Effect.provide(SqliteStore.layer({ filename })))
          assert.deepStrictEqual(found, Option.some("kept"))
        }),
      ),
    )

    it.effect(
      "layer - through a symlinked path, the real file and the -wal/-shm next to it (where SQLite puts them) end 0600",
      () =>
        underUmask022(
          Effect.gen(function* () {
            // SQLite resolves the link and keeps its side files next to the real file, not the link.
            const filename = freshFile()
            const realDir = `${filename}.d`
            mkdirSync(realDir)
            const real = join(realDir, "store.db")
            symlinkSync(real, filename)
            yield* withStore((s) => s.set("k", "kept", "1 hour")).pipe(
              Effect.provide(SqliteStore.layer({ filename })),
            )
            // Left behind by a crashed older version, readable by others.
            writeFileSync(`${real}-wal`, "")
            writeFileSync(`${real}-shm`, "")
            for (const file of [real, `${real}-wal`, `${real}-shm`]) chmodSync(file, 0o644)
            const found = yield* withStore((s) =>
              Effect.gen(function* () {
                yield* s.set("k2", "v", "1 hour")
                for (const file of [real, `${real}-wal`, `${real}-shm`])
                  assert.strictEqual(modeOf(file).toString(8), "600", file)
                assert.isFalse(existsSync(`${filename}-wal`), "no side file next to the link")
                return yield* s.get("k")
              }),
            ).pipe(Effect.provide(SqliteStore.layer({ filename })))
            assert.deepStrictEqual(found, Option.some("kept"))
          }),
        ),
    )
  })
})

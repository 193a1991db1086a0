/**
 * PostgresStore over a real PostgreSQL server: migrations at start (concurrent starts apply each
 * migration once), the bounded sweep, failures described without keys, values or the password,
 * and an outage (server stopped) answered fast with `StoreError`, recovered without a new layer.
 */
import { assert, it } from "@effect/vitest"
import { type OAuthError, Store } from "@oidc-proxy/core"
import { Cause, Clock, Effect, Exit, Layer, Option, Schedule } from "effect"
import postgres from "postgres"
import { PostgresClient, PostgresMigrations, PostgresStore } from "../src/index.ts"
import { describeWithPostgres, freePort } from "../src/testing/PostgresServer.ts"

/** A raw connection, to see and arrange what is in the database. */
const raw = <A>(url: string, f: (sql: postgres.Sql) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(url, { onnotice: () => {}, max: 1 })),
    (sql) => Effect.tryPromise(() => f(sql)),
    (sql) => Effect.promise(() => sql.end()),
  )

const withStore = <A, E>(f: (store: Store.StoreShape) => Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    return yield* f(yield* Store.Store)
  })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "the operation failed")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(error), "the failure is a typed error, not a defect")
  return Option.getOrThrow(error)
}

describeWithPostgres("PostgresStore", (server) => {
  it.live(
    "migrations - five gateways starting at once apply each migration once, and start again idempotently",
    () =>
      Effect.gen(function* () {
        const url = server().url
        const table = "mig_race"
        const start = withStore((s) => s.set("k", "v", "1 minute")).pipe(
          Effect.provide(PostgresStore.layer({ url, table })),
        )
        yield* Effect.all(
          Array.from({ length: 5 }, () => start),
          { concurrency: "unbounded" },
        )
        yield* start
        const versions = yield* raw(url, (sql) =>
          sql.unsafe(`SELECT version FROM ${table}_migrations ORDER BY version`),
        )
        assert.deepStrictEqual(
          versions.map((r) => r["version"]),
          PostgresMigrations.migrations.map((_, i) => i + 1),
        )
        const found = yield* raw(url, (sql) => sql.unsafe(`SELECT value FROM ${table} WHERE key = 'k'`))
        assert.deepStrictEqual(
          found.map((r) => r["value"]),
          ["v"],
        )
      }),
  )

  it.live(
    "table - stores with different tables do not see each other's keys; a bad table name is refused",
    () =>
      Effect.gen(function* () {
        const url = server().url
        yield* withStore((s) => s.set("k", "one", "1 minute")).pipe(
          Effect.provide(PostgresStore.layer({ url, table: "app1" })),
        )
        const other = yield* withStore((s) => s.get("k")).pipe(
          Effect.provide(PostgresStore.layer({ url, table: "app2" })),
        )
        assert.deepStrictEqual(other, Option.none())
        const bad = failureOf(
          yield* Effect.exit(
            withStore((s) => s.get("k")).pipe(
              Effect.provide(PostgresStore.layer({ url, table: "x; DROP TABLE app1" })),
            ),
          ),
        )
        assert.strictEqual(bad._tag, "PostgresStoreError")
      }),
  )

  it.live("sweep - deletes expired rows only, at most the limit per statement", () =>
    Effect.gen(function* () {
      const url = server().url
      const table = "sweep_bound"
      yield* withStore((s) => s.set("live", "v", "1 hour")).pipe(
        Effect.provide(PostgresStore.layer({ url, table })),
      )
      yield* raw(url, (sql) =>
        sql.unsafe(
          `INSERT INTO ${table} (key, value, expires_at)
           SELECT 'dead' || i, 'x', clock_timestamp() - interval '1 second' FROM generate_series(1, 25) AS i`,
        ),
      )
      const count = raw(url, (sql) => sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`)).pipe(
        Effect.map((rows) => rows[0]?.["n"] as number),
      )
      const client = yield* PostgresClient.make({ url, table })
      assert.strictEqual(yield* PostgresStore.sweep(client, 10), 10)
      assert.strictEqual(yield* count, 16)
      assert.strictEqual(yield* PostgresStore.sweep(client, 10), 10)
      assert.strictEqual(yield* PostgresStore.sweep(client, 10), 5)
      assert.strictEqual(yield* PostgresStore.sweep(client, 10), 0)
      assert.strictEqual(yield* count, 1, "the live row stays")
    }).pipe(Effect.scoped),
  )

  it.live("sweep - the store's own fiber clears a backlog larger than one statement's limit", () =>
    Effect.gen(function* () {
      const url = server().url
      const table = "sweep_fiber"
      const s = yield* Store.Store
      yield* raw(url, (sql) =>
        sql.unsafe(
          `INSERT INTO ${table} (key, value, expires_at)
           SELECT 'dead' || i, 'x', clock_timestamp() - interval '1 second' FROM generate_series(1, 40) AS i`,
        ),
      )
      yield* s.set("live", "v", "1 hour")
      yield* raw(url, (sql) => sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`)).pipe(
        Effect.flatMap((rows) => (rows[0]?.["n"] === 1 ? Effect.void : Effect.fail("not yet"))),
        Effect.retry(Schedule.spaced("50 millis")),
        Effect.timeout("10 seconds"),
      )
      assert.deepStrictEqual(yield* s.get("live"), Option.some("v"))
    }).pipe(
      Effect.provide(
        Layer.unwrap(
          Effect.sync(() =>
            PostgresStore.layer({
              url: server().url,
              table: "sweep_fiber",
              sweepInterval: "100 millis",
              sweepLimit: 7,
              sweepRounds: 2,
            }),
          ),
        ),
      ),
    ),
  )

  it.live("U+0000 - a key or value holding it is refused with StoreError, nothing written", () =>
    Effect.gen(function* () {
      const s = yield* Store.Store
      const e = failureOf(yield* Effect.exit(s.set("a\u0000b", "v", "1 minute")))
      assert.strictEqual(e.operation, "set")
      assert.include(e.description, "U+0000")
      failureOf(yield* Effect.exit(s.setIfAbsent("k0", "v\u0000", "1 minute")))
      assert.deepStrictEqual(yield* s.get("k0"), Option.none())
    }).pipe(Effect.provide(Layer.unwrap(Effect.sync(() => PostgresStore.layer({ url: server().url }))))),
  )

  it.live(
    "layer - a wrong password or an unreachable server fails the build, the password never in the error",
    () =>
      Effect.gen(function* () {
        const { url, password, port } = server()
        const wrong = url.replace(password, "wrong-password-1234")
        const refused = failureOf(
          yield* Effect.exit(
            withStore(() => Effect.void).pipe(Effect.provide(PostgresStore.layer({ url: wrong }))),
          ),
        )
        assert.strictEqual(refused._tag, "PostgresStoreError")
        assert.include(refused.description, "28P01", "invalid_password, named by its SQLSTATE")
        const unreachableUrl = url.replace(`:${port}/`, `:${yield* Effect.promise(freePort)}/`)
        const unreachable = failureOf(
          yield* Effect.exit(
            withStore(() => Effect.void).pipe(Effect.provide(PostgresStore.layer({ url: unreachableUrl }))),
          ),
        )
        for (const e of [refused, unreachable]) {
          assert.notInclude(JSON.stringify(e), password)
          assert.notInclude(JSON.stringify(e), "wrong-password-1234")
          assert.notInclude(String(e), password)
        }
      }),
  )

  it.live(
    "outage - while the server is down every operation fails fast with StoreError; after a restart they succeed again",
    () =>
      Effect.gen(function* () {
        const s = yield* Store.Store
        yield* s.set("session", "before", "1 minute")
        yield* Effect.promise(() => server().stop())

        const started = yield* Clock.currentTimeMillis
        const failures: Array<OAuthError.StoreError> = [
          failureOf(yield* Effect.exit(s.get("session"))),
          failureOf(yield* Effect.exit(s.set("session", "secret-value", "1 minute"))),
          failureOf(yield* Effect.exit(s.delete("session"))),
          failureOf(yield* Effect.exit(s.take("session"))),
          failureOf(yield* Effect.exit(s.setIfAbsent("session", "secret-value", "1 minute"))),
        ]
        const elapsed = (yield* Clock.currentTimeMillis) - started
        assert.isBelow(elapsed, 5 * 3_000, "each fails within the connect and command timeouts")
        assert.deepStrictEqual(
          failures.map((e) => e.operation),
          ["get", "set", "delete", "take", "setIfAbsent"],
        )
        for (const e of failures) {
          assert.notInclude(e.description, "session")
          assert.notInclude(e.description, "secret-value")
          assert.notInclude(e.description, server().password)
        }

        // A long outage: every statement fails and the driver's reconnect backoff grows (its default
        // reaches 20 s, which would keep the store failing long after the server is back).
        const until = (yield* Clock.currentTimeMillis) + 8_000
        while ((yield* Clock.currentTimeMillis) < until) {
          yield* Effect.exit(s.get("session"))
          yield* Effect.sleep("100 millis")
        }

        yield* Effect.promise(() => server().start())
        const up = yield* Clock.currentTimeMillis
        // The pool reconnects on the next statement; the data survived the stop.
        const back = yield* s
          .get("session")
          .pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }))
        assert.deepStrictEqual(back, Option.some("before"))
        const recovered = (yield* Clock.currentTimeMillis) - up
        assert.isBelow(
          recovered,
          3_000,
          "back within the 1 s backoff cap and a 2 s connect, not the driver's 20 s",
        )
        assert.deepStrictEqual(yield* s.take("session"), Option.some("before"))
        assert.deepStrictEqual(yield* s.take("session"), Option.none())
      }).pipe(
        Effect.provide(Layer.unwrap(Effect.sync(() => PostgresStore.layer({ url: server().url })))),
        Effect.timeout("60 seconds"),
      ),
    65_000,
  )
})

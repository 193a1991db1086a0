/**
 * Revocation across instances over a real PostgreSQL server: two proxy instances (`TokenStore`
 * with its verified-token cache, each with its own `PostgresStore.layer`, i.e. its own pool and
 * listening connection) share one database. The cache TTL is 300 s, so a refusal by the instance that did not revoke can
 * only come from the invalidation channel: every wait below is bounded far below it (10 s for the
 * message, 20 s for a reconnection). Also: a listener that reconnects (its backend terminated,
 * or the server restarted) clears the cache, and a malformed notification is ignored.
 */
import { assert, it } from "@effect/vitest"
import { CacheInvalidation, type LoadAccessToken, TokenStore } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Clock, Effect, Layer, Logger, Schedule } from "effect"
import postgres from "postgres"
import { PostgresCacheInvalidation, PostgresStore } from "../src/index.ts"
import { describeWithPostgres } from "../src/testing/PostgresServer.ts"

const tokenStore = Effect.gen(function* () {
  return yield* TokenStore.TokenStore
})

/** Far below the 300 s cache TTL: how long the other instance may take to refuse. */
const boundMs = 10_000

/** Two instances on one database (table `table`), and a session issued through `a`. */
const twoInstances = (url: string, table: string) =>
  Effect.gen(function* () {
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const upstream = yield* TestUpstream.make()
    const idToken = yield* upstream.sign({ sub: "u1", aud: upstream.clientId, exp: now + 3600 }, { now })
    const config = TestProxy.config(upstream, { verification_mode: "id_token", cache_ttl_seconds: 300 })
    const instance = () =>
      TestProxy.layer(upstream, config, PostgresStore.layer({ url, table }).pipe(Layer.orDie))
    const a = yield* Layer.build(instance())
    const b = yield* Layer.build(instance())
    const issued = yield* TestProxy.issueSession(idToken, now + 3600).pipe(Effect.provideContext(a))
    const on = <X, E>(context: typeof a, effect: Effect.Effect<X, E, LoadAccessToken.Requirements>) =>
      Effect.provideContext(effect, context)
    const decision = (context: typeof a) => on(context, TestProxy.verdict(issued.access_token))
    const cached = (context: typeof a) =>
      on(
        context,
        Effect.map(tokenStore, (s) => s.verified?.size() ?? -1),
      )
    const revokeOn = (context: typeof a) =>
      on(
        context,
        Effect.flatMap(tokenStore, (s) => s.jtiMappings.delete(issued.jti)),
      )
    // Issuing the session notified evictions that B may hear only after its first verdict. A
    // notification sent now is queued after them: once B has handled it, it has handled them.
    yield* decision(b)
    yield* raw(
      url,
      (sql) =>
        sql`SELECT pg_notify(${PostgresCacheInvalidation.channel(table)}, ${CacheInvalidation.encodeMessage({
          origin: "test-settle",
          evict: { kind: "jti", id: issued.jti },
        })})`,
    )
    yield* within(
      boundMs,
      "B handled the notifications of the issuance",
      Effect.map(cached(b), (n) => n === 0),
    )
    return { a, b, issued, decision, cached, revokeOn }
  })

/** Polls `check` every 20 ms until it holds; fails after `ms`. Returns how long it took. */
const within = (ms: number, what: string, check: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    yield* check.pipe(
      Effect.flatMap((ok) => (ok ? Effect.void : Effect.fail("not yet" as const))),
      Effect.retry(Schedule.spaced("20 millis")),
      Effect.timeoutOrElse({
        duration: ms,
        orElse: () => Effect.die(new Error(`not within ${ms} ms: ${what}`)),
      }),
    )
    return (yield* Clock.currentTimeMillis) - started
  })

const revoked = "The access token is unknown or was revoked"

/** Log lines of the malformed-message test. */
const logged: Array<string> = []

/** A raw connection, to notify, count listeners and terminate backends. */
const raw = <A>(url: string, f: (sql: postgres.Sql) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(url, { onnotice: () => {}, max: 1 })),
    (sql) => Effect.tryPromise(() => f(sql)),
    (sql) => Effect.promise(() => sql.end()),
  )

/** How many backends are listening on `table`'s channel. */
const listeners = (url: string, table: string) =>
  raw(
    url,
    (sql) =>
      sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = ${`LISTEN ${PostgresCacheInvalidation.channel(table)}`}`,
  ).pipe(Effect.map((rows) => rows[0]?.["n"] as number))

describeWithPostgres("PostgresCacheInvalidation", (server) => {
  it.live(
    "revoke on A - B refuses within the bound, long before its cache TTL",
    () =>
      Effect.gen(function* () {
        const { a, b, decision, cached, revokeOn } = yield* twoInstances(server().url, "inv1")
        assert.strictEqual(yield* decision(a), "allow")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        yield* revokeOn(a)
        assert.strictEqual(yield* decision(a), revoked, "the revoking instance refuses at once")
        const took = yield* within(
          boundMs,
          "B refuses",
          Effect.map(decision(b), (d) => d === revoked),
        )
        assert.isBelow(took, boundMs)
        assert.strictEqual(yield* cached(b), 0)
      }).pipe(Effect.scoped),
    30_000,
  )

  it.live(
    "an upstream token set rewritten on A (a refresh) evicts B's tokens of that set",
    () =>
      Effect.gen(function* () {
        const { a, b, decision, cached } = yield* twoInstances(server().url, "inv2")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        yield* Effect.provideContext(
          Effect.flatMap(tokenStore, (s) => s.upstreamTokenSets.delete("ts")),
          a,
        )
        yield* within(
          boundMs,
          "B evicts",
          Effect.map(cached(b), (n) => n === 0),
        )
      }).pipe(Effect.scoped),
    30_000,
  )

  it.live(
    "a malformed notification is ignored, never logged with its text; the channel keeps working",
    () =>
      Effect.gen(function* () {
        const url = server().url
        logged.length = 0
        const { b, issued, decision, cached } = yield* twoInstances(url, "inv3")
        assert.strictEqual(yield* decision(b), "allow")
        const channel = PostgresCacheInvalidation.channel("inv3")
        const foreign = (evict: CacheInvalidation.Eviction) =>
          CacheInvalidation.encodeMessage({ origin: "another-instance", evict })
        const bad = [
          "garbage",
          "{}",
          JSON.stringify({ origin: "x", evict: { kind: "everything", id: "*" } }),
          // Would evict, but is longer than any message could be: ignored unparsed.
          JSON.stringify({
            origin: "another-instance",
            evict: { kind: "jti", id: issued.jti },
            pad: "p".repeat(5_000),
          }),
        ]
        yield* raw(url, async (sql) => {
          for (const message of [...bad, foreign({ kind: "jti", id: "some-other-jti" })])
            await sql`SELECT pg_notify(${channel}, ${message})`
          // Notifications arrive in order: once this one is handled, the bad ones were too.
          await sql`SELECT pg_notify(${channel}, ${foreign({ kind: "jti", id: issued.jti })})`
        })
        yield* within(
          boundMs,
          "the valid message evicts",
          Effect.map(cached(b), (n) => n === 0),
        )
        assert.strictEqual(yield* decision(b), "allow", "the token itself was never revoked")
        assert.strictEqual(yield* cached(b), 1)
        yield* within(
          boundMs,
          "both instances logged the four bad messages",
          Effect.sync(() => logged.filter((line) => line.includes("ignored a message")).length === 8),
        )
        for (const line of logged) assert.notInclude(line, "garbage")
      }).pipe(
        Effect.scoped,
        Effect.provide(Logger.layer([Logger.make((options) => void logged.push(String(options.message)))])),
      ),
    30_000,
  )

  it.live(
    "listener reconnect - terminated listening backends come back with an empty cache, and hear again",
    () =>
      Effect.gen(function* () {
        const url = server().url
        const { a, b, decision, cached, revokeOn } = yield* twoInstances(url, "inv4")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        assert.strictEqual(yield* listeners(url, "inv4"), 2)
        // Only the listening connections are dropped: the store itself stays reachable.
        yield* raw(
          url,
          (sql) =>
            sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = ${`LISTEN ${PostgresCacheInvalidation.channel("inv4")}`}`,
        )
        yield* within(
          20_000,
          "B's cache is cleared once it listens again",
          Effect.map(cached(b), (n) => n === 0),
        )
        assert.strictEqual(yield* decision(b), "allow")
        yield* within(
          20_000,
          "A listens again",
          Effect.map(listeners(url, "inv4"), (n) => n === 2),
        )
        yield* revokeOn(a)
        yield* within(
          boundMs,
          "B refuses",
          Effect.map(decision(b), (d) => d === revoked),
        )
      }).pipe(Effect.scoped),
    60_000,
  )

  it.live(
    "scope closed - both listening connections are closed with their instances",
    () =>
      Effect.gen(function* () {
        const url = server().url
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* twoInstances(url, "inv6")
            assert.strictEqual(yield* listeners(url, "inv6"), 2)
          }),
        )
        yield* within(
          boundMs,
          "no listener left",
          Effect.map(listeners(url, "inv6"), (n) => n === 0),
        )
      }),
    30_000,
  )

  it.live(
    "the server restarts - B's cache is cleared, revocations are heard again",
    () =>
      Effect.gen(function* () {
        const url = server().url
        const { a, b, decision, cached, revokeOn } = yield* twoInstances(url, "inv5")
        assert.strictEqual(yield* decision(b), "allow")
        assert.strictEqual(yield* cached(b), 1)
        yield* Effect.promise(() => server().stop())
        yield* Effect.promise(() => server().start())
        yield* within(
          20_000,
          "B's cache is cleared once it listens again",
          Effect.map(cached(b), (n) => n === 0),
        )
        // The data survived; B verifies from the store again (its pool reconnects by itself).
        yield* within(
          20_000,
          "B allows from the store",
          Effect.map(
            Effect.orElseSucceed(decision(b), () => "error"),
            (d) => d === "allow",
          ),
        )
        yield* within(
          20_000,
          "A listens again",
          Effect.map(
            Effect.orElseSucceed(listeners(url, "inv5"), () => 0),
            (n) => n === 2,
          ),
        )
        yield* Effect.retry(revokeOn(a), { schedule: Schedule.spaced("100 millis"), times: 100 })
        yield* within(
          boundMs,
          "B refuses",
          Effect.map(decision(b), (d) => d === revoked),
        )
      }).pipe(Effect.scoped),
    90_000,
  )
})

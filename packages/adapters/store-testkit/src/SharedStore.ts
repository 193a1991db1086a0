/**
 * The suites every store several proxy instances share must pass, over a real server: upstream
 * tokens are never at rest in clear, and revocation reaches the other instances through the
 * store's invalidation channel (within a bound far below the cache TTL), also after the channel's
 * connections drop or the server restarts, while a malformed message is ignored and never logged.
 *
 * Testing helper for `@effect/vitest`. A store is described by a {@link Fixture}: how to start its
 * server, make one instance's layer, read everything it holds, publish raw messages on its
 * channel, count and drop the instances' channel connections, and restart the server with its data.
 *
 * @since 0.1.0
 */
import { assert, it } from "@effect/vitest"
import { CacheInvalidation, type LoadAccessToken, StorageKeys, Store, TokenStore } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Clock, Effect, Layer, Logger, Option, Redacted, Schedule, type Scope } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Server {
  readonly url: string
}

/**
 * A store shared by several instances, and the raw access the suites need to its server.
 * `namespace` keeps tests apart on one server (a Redis key prefix, a Postgres table).
 *
 * @category models
 * @since 0.1.0
 */
export interface Fixture<S extends Server> {
  /** The store's name in titles: `Redis` gives `RedisStore with TokenStore`, `RedisCacheInvalidation`. */
  readonly name: string
  /** What the store calls an instance's channel connection: `subscriber`, `listener`. */
  readonly subscriber: string
  /** `describe(name)` around a server started before the tests and stopped after them. */
  readonly describe: (name: string, body: (server: () => S) => void) => void
  /** One instance's store at `url`; without `namespace`, the store's default. */
  readonly layer: (url: string, namespace?: string) => Layer.Layer<Store.Store, unknown>
  /** The namespace for a test label (`inv1` → `inv1:` for a key prefix). */
  readonly namespace: (label: string) => string
  /** Every key and value the default namespace holds, as text. */
  readonly dump: (url: string) => Effect.Effect<string, unknown>
  /** Publishes `messages` in order on `namespace`'s invalidation channel. */
  readonly publish: (
    url: string,
    namespace: string,
    messages: ReadonlyArray<string>,
  ) => Effect.Effect<void, unknown>
  /** How many connections listen on `namespace`'s channel. */
  readonly subscribers: (url: string, namespace: string) => Effect.Effect<number, unknown>
  /** Drops the connections listening on `namespace`'s channel; the store itself stays up. */
  readonly dropSubscribers: (url: string, namespace: string) => Effect.Effect<void, unknown>
  /** A server that can crash and come back on the same url with its data (the shared one or its own). */
  readonly restartable: (
    shared: () => S,
  ) => Effect.Effect<{ readonly url: string; readonly restart: Effect.Effect<void> }, unknown, Scope.Scope>
}

const tokenStore = Effect.gen(function* () {
  return yield* TokenStore.TokenStore
})

/**
 * What {@link writeUpstreamTokenSet} wrote: an upstream token set under `id`, and a control value
 * written raw (in clear), which shows that a scan does see what is stored in clear.
 *
 * @category models
 * @since 0.1.0
 */
export interface Written {
  readonly id: string
  readonly tokens: Readonly<Record<"access_token" | "refresh_token" | "id_token", string>>
  readonly control: string
}

/**
 * Writes an upstream token set through `TokenStore` over `store` (with a storage key) and a control
 * value raw, and runs `whileOpen` (a scan) before the store closes.
 *
 * @category checks
 * @since 0.1.0
 */
export const writeUpstreamTokenSet = <A, E>(
  store: Layer.Layer<Store.Store, E>,
  whileOpen: Effect.Effect<A, unknown> = Effect.void as Effect.Effect<A>,
) =>
  Effect.gen(function* () {
    const written: Written = {
      id: `set-${crypto.randomUUID()}`,
      tokens: {
        access_token: `upstream-access-${crypto.randomUUID()}`,
        refresh_token: `upstream-refresh-${crypto.randomUUID()}`,
        id_token: `upstream-id-${crypto.randomUUID()}`,
      },
      control: `control-plaintext-${crypto.randomUUID()}`,
    }
    const { id, tokens, control } = written
    const storage = Layer.mergeAll(
      store,
      StorageKeys.layer([{ kid: "k1", secret: Redacted.make("a-storage-secret-of-at-least-32-bytes!") }]),
    )
    const scanned = yield* Effect.gen(function* () {
      const { upstreamTokenSets } = yield* TokenStore.TokenStore
      yield* upstreamTokenSets.set(
        id,
        { id, ...tokens, token_type: "Bearer", scope: ["openid"], expires_at: 2e9, raw: { ...tokens } },
        "1 hour",
      )
      yield* (yield* Store.Store).set("control", control, "1 hour")
      assert.isTrue(Option.isSome(yield* upstreamTokenSets.get(id)))
      return yield* whileOpen
    }).pipe(Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(storage))))
    return { written, scanned }
  })

/**
 * Asserts that a scan (`holds`: whether it contains a text) finds the control value and the
 * record's key, and none of the upstream tokens; `where` names the scanned place in messages.
 *
 * @category checks
 * @since 0.1.0
 */
export const assertNotInClear = (written: Written, holds: (text: string) => boolean, where: string): void => {
  assert.isTrue(holds(written.control), "the scan finds a value stored in clear")
  assert.isTrue(holds(`upstream:${written.id}`), "the scan finds the record's key")
  for (const [name, token] of Object.entries(written.tokens))
    assert.isFalse(holds(token), `${name} is in ${where} in clear`)
}

/**
 * `<name>Store with TokenStore`: an upstream token set written through `TokenStore` leaves no
 * upstream token in clear in any key or value the store holds.
 *
 * @category suites
 * @since 0.1.0
 */
export const tokensAtRest = <S extends Server>(fixture: Fixture<S>): void =>
  fixture.describe(`${fixture.name}Store with TokenStore`, (server) => {
    it.live(`upstreamTokenSets - no upstream token is in ${fixture.name} in clear, in any key or value`, () =>
      Effect.gen(function* () {
        const { written } = yield* writeUpstreamTokenSet(fixture.layer(server().url))
        const dump = yield* fixture.dump(server().url)
        assertNotInClear(written, (text) => dump.includes(text), fixture.name)
      }),
    )
  })

/** Far below the 300 s cache TTL: how long the other instance may take to refuse. */
const boundMs = 10_000

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

/** Another instance's eviction, as it travels on the channel. */
const foreign = (evict: CacheInvalidation.Eviction, origin = "another-instance") =>
  CacheInvalidation.encodeMessage({ origin, evict })

/** Two instances on one store (`namespace`), and a session issued through `a`. */
const twoInstances = <S extends Server>(fixture: Fixture<S>, url: string, namespace: string) =>
  Effect.gen(function* () {
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const upstream = yield* TestUpstream.make()
    const idToken = yield* upstream.sign({ sub: "u1", aud: upstream.clientId, exp: now + 3600 }, { now })
    const config = TestProxy.config(upstream, { verification_mode: "id_token", cache_ttl_seconds: 300 })
    const instance = () => TestProxy.layer(upstream, config, fixture.layer(url, namespace).pipe(Layer.orDie))
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
    // Issuing the session sent evictions that B may hear only after its first verdict. A message
    // sent now is queued after them: once B has handled it, it has handled them.
    yield* decision(b)
    yield* fixture.publish(url, namespace, [foreign({ kind: "jti", id: issued.jti }, "test-settle")])
    yield* within(
      boundMs,
      "B handled the evictions of the issuance",
      Effect.map(cached(b), (n) => n === 0),
    )
    return { a, b, issued, decision, cached, revokeOn }
  })

/** Log lines of the malformed-message test. */
const logged: Array<string> = []

const malformedIsIgnored = <S extends Server>(fixture: Fixture<S>, url: string) =>
  Effect.gen(function* () {
    const namespace = fixture.namespace("inv3")
    logged.length = 0
    const { b, issued, decision, cached } = yield* twoInstances(fixture, url, namespace)
    assert.strictEqual(yield* decision(b), "allow")
    const bad = [
      "garbage",
      "{}",
      JSON.stringify({ origin: "x", evict: { kind: "everything", id: "*" } }),
      // Would evict, but is longer than any message could be: ignored unparsed.
      JSON.stringify({
        origin: "another-instance",
        evict: { kind: "jti", id: issued.jti },
        pad: "p".repeat(CacheInvalidation.maxMessageLength + 1_000),
      }),
    ]
    // Messages arrive in order: once the last (valid) one is handled, the bad ones were too.
    yield* fixture.publish(url, namespace, [
      ...bad,
      foreign({ kind: "jti", id: "some-other-jti" }),
      foreign({ kind: "jti", id: issued.jti }),
    ])
    yield* within(
      boundMs,
      "the valid message evicts",
      Effect.map(cached(b), (n) => n === 0),
    )
    assert.strictEqual(yield* decision(b), "allow", "the token itself was never revoked")
    assert.strictEqual(yield* cached(b), 1)
    // Each instance logs each of the four bad messages (A's may still be on their way), never its text.
    yield* within(
      boundMs,
      "both instances logged the four bad messages",
      Effect.sync(() => logged.filter((line) => line.includes("ignored a message")).length === 8),
    )
    for (const line of logged) assert.notInclude(line, "garbage")
  }).pipe(
    Effect.scoped,
    Effect.provide(Logger.layer([Logger.make((options) => void logged.push(String(options.message)))])),
  )

const subscriberReconnects = <S extends Server>(fixture: Fixture<S>, url: string) =>
  Effect.gen(function* () {
    const namespace = fixture.namespace("inv4")
    const { a, b, decision, cached, revokeOn } = yield* twoInstances(fixture, url, namespace)
    assert.strictEqual(yield* decision(b), "allow")
    assert.strictEqual(yield* cached(b), 1)
    assert.strictEqual(yield* fixture.subscribers(url, namespace), 2)
    // Only the channel's connections are dropped: the store itself stays reachable.
    yield* fixture.dropSubscribers(url, namespace)
    yield* within(
      20_000,
      "B's cache is cleared once it listens again",
      Effect.map(cached(b), (n) => n === 0),
    )
    assert.strictEqual(yield* decision(b), "allow")
    yield* within(
      20_000,
      "A listens again",
      Effect.map(fixture.subscribers(url, namespace), (n) => n === 2),
    )
    yield* revokeOn(a)
    yield* within(
      boundMs,
      "B refuses",
      Effect.map(decision(b), (d) => d === revoked),
    )
  }).pipe(Effect.scoped)

const closedWithScope = <S extends Server>(fixture: Fixture<S>, url: string) =>
  Effect.gen(function* () {
    const namespace = fixture.namespace("inv6")
    yield* Effect.scoped(
      Effect.gen(function* () {
        yield* twoInstances(fixture, url, namespace)
        assert.strictEqual(yield* fixture.subscribers(url, namespace), 2)
      }),
    )
    yield* within(
      boundMs,
      "no connection left on the channel",
      Effect.map(fixture.subscribers(url, namespace), (n) => n === 0),
    )
  })

const serverRestarts = <S extends Server>(fixture: Fixture<S>, shared: () => S) =>
  Effect.gen(function* () {
    const namespace = fixture.namespace("inv5")
    const { url, restart } = yield* fixture.restartable(shared)
    const { a, b, decision, cached, revokeOn } = yield* twoInstances(fixture, url, namespace)
    assert.strictEqual(yield* decision(b), "allow")
    assert.strictEqual(yield* cached(b), 1)
    yield* restart
    yield* within(
      20_000,
      "B's cache is cleared once it listens again",
      Effect.map(cached(b), (n) => n === 0),
    )
    // The data survived; B verifies from the store again (its main connections come back by themselves).
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
        Effect.orElseSucceed(fixture.subscribers(url, namespace), () => 0),
        (n) => n === 2,
      ),
    )
    yield* Effect.retry(revokeOn(a), { schedule: Schedule.spaced("100 millis"), times: 100 })
    yield* within(
      boundMs,
      "B refuses",
      Effect.map(decision(b), (d) => d === revoked),
    )
  }).pipe(Effect.scoped)

/**
 * `<name>CacheInvalidation`: two proxy instances (`TokenStore` with its verified-token cache, each
 * with its own store layer, i.e. its own connections) share one server. The cache TTL is 300 s,
 * so a refusal by the instance that did not revoke can only come from the invalidation channel:
 * every wait is bounded far below it (10 s for a message, 20 s for a reconnection).
 *
 * @category suites
 * @since 0.1.0
 */
export const cacheInvalidation = <S extends Server>(fixture: Fixture<S>): void =>
  fixture.describe(`${fixture.name}CacheInvalidation`, (server) => {
    const sub = fixture.subscriber
    it.live(
      "revoke on A - B refuses within the bound, long before its cache TTL",
      () =>
        Effect.gen(function* () {
          const { a, b, decision, cached, revokeOn } = yield* twoInstances(
            fixture,
            server().url,
            fixture.namespace("inv1"),
          )
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
          const { a, b, decision, cached } = yield* twoInstances(
            fixture,
            server().url,
            fixture.namespace("inv2"),
          )
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
      "a malformed message is ignored, never logged with its text; the channel keeps working",
      () => malformedIsIgnored(fixture, server().url),
      30_000,
    )
    it.live(
      `${sub} reconnect - dropped ${sub} connections come back with an empty cache, and hear again`,
      () => subscriberReconnects(fixture, server().url),
      60_000,
    )
    it.live(
      `scope closed - both ${sub} connections are closed with their instances`,
      () => closedWithScope(fixture, server().url),
      30_000,
    )
    it.live(
      "the server restarts with its data - B's cache is cleared, revocations are heard again",
      () => serverRestarts(fixture, server),
      90_000,
    )
  })

/**
 * The synchronous cold check: with every port answering in the process (memory store,
 * `NodeStorageKeys`, `NodeProxyKeys`, `NodeUpstreamVerifier` over a static JWKS),
 * `LoadAccessToken.check` decides without a fiber step per port. It must decide exactly as the
 * general Effect path over jose: both stacks below share one memory store; the reference one sees
 * it without `getSync`, and has jose-only keys and verifier (WebCrypto storage keys, no
 * `verifySync`, no compact fast paths inside `verify`), so it runs every step through the ports'
 * Effects and every verification through jose. Same sessions, same clock, same decisions — valid,
 * refused at each step, corrupted bearers, records that do not decode, random upstream claims.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  IssueAccessToken,
  Jwks,
  LoadAccessToken,
  ProxyConfig,
  ProxyKeys,
  StorageKeys,
  Store,
  TokenStore,
  type UpstreamTokenSet,
  UpstreamVerifier,
} from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Clock, Context, Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import * as NodeProxyKeys from "../src/NodeProxyKeys.ts"
import * as NodeStorageKeys from "../src/NodeStorageKeys.ts"
import * as NodeUpstreamVerifier from "../src/NodeUpstreamVerifier.ts"

const start = 1_800_000_000

const stackOver = (
  upstream: TestUpstream.TestUpstream,
  config: unknown,
  store: Store.StoreShape,
  reference = false,
) =>
  Layer.mergeAll(
    reference ? TestProxy.keysLayer() : TestProxy.keysLayer(NodeProxyKeys.hmacSha256),
    (reference
      ? Layer.effect(
          UpstreamVerifier.UpstreamVerifier,
          UpstreamVerifier.makeJwtWith(undefined, { resultCache: false }),
        )
      : NodeUpstreamVerifier.layerJwt({ resultCache: false })
    ).pipe(Layer.provide(Jwks.layerStatic(upstream.jwks))),
    TokenStore.layer.pipe(
      Layer.provide(Layer.succeed(Store.Store, store)),
      Layer.provide(
        (reference
          ? StorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }])
          : NodeStorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }])
        ).pipe(Layer.orDie),
      ),
    ),
  ).pipe(Layer.provideMerge(Layer.effect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(config)))))

/** Two stacks over one memory store: `fast` may answer synchronously, `general` never does. */
const pair = (mode: "id_token" | "access_token") =>
  Effect.gen(function* () {
    yield* TestClock.setTime(start * 1000)
    const upstream = yield* TestUpstream.make()
    const config = TestProxy.config(upstream, { verification_mode: mode, clock_tolerance_seconds: 5 })
    const memory = yield* Store.makeMemory
    const reads = { effect: 0 }
    const fastStore: Store.StoreShape = {
      ...memory,
      get: (key) =>
        Effect.andThen(
          Effect.sync(() => reads.effect++),
          memory.get(key),
        ),
    }
    const generalStore: Store.StoreShape = {
      get: memory.get,
      set: memory.set,
      delete: memory.delete,
      take: memory.take,
      setIfAbsent: memory.setIfAbsent,
    }
    const fast = yield* Layer.build(stackOver(upstream, config, fastStore))
    // The reference stack is jose throughout, and its ports' Effects only: no synchronous answers.
    const built = yield* Layer.build(stackOver(upstream, config, generalStore, true))
    const keys = Context.get(built, ProxyKeys.ProxyKeys)
    const verifier = Context.get(built, UpstreamVerifier.UpstreamVerifier)
    const general = built.pipe(
      Context.add(ProxyKeys.ProxyKeys, ProxyKeys.ProxyKeys.of({ sign: keys.sign, verify: keys.verify })),
      Context.add(
        UpstreamVerifier.UpstreamVerifier,
        UpstreamVerifier.UpstreamVerifier.of({ verify: verifier.verify }),
      ),
    )
    return { upstream, memory, reads, fast, general }
  })

type Pair = Effect.Success<ReturnType<typeof pair>>

const session = (
  p: Pair,
  id: string,
  set: Partial<UpstreamTokenSet.UpstreamTokenSet> & { readonly idToken?: string | undefined },
  client = "c1",
) =>
  Effect.gen(function* () {
    const store = yield* TokenStore.TokenStore
    const { idToken, ...rest } = set
    yield* store.upstreamTokenSets.set(
      id,
      {
        id,
        access_token: "opaque-upstream-access-token",
        ...(idToken === undefined ? {} : { id_token: idToken }),
        token_type: "Bearer",
        scope: ["openid", "tools"],
        expires_at: start + 3600,
        raw: {},
        ...rest,
      },
      "2 hours",
    )
    const issued = yield* IssueAccessToken.issueAccessToken({
      upstream_token_set_id: id,
      client_id: client,
      subject: "u1",
      scopes: ["openid"],
      lifetime: 600,
    })
    return issued
  }).pipe(Effect.provide(p.fast))

/** Both decisions on a cold cache (the general one first, so it cannot warm anything for `fast`). */
const decide = (p: Pair, bearer: string, scopes: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const clear = (ctx: typeof p.fast) =>
      Effect.map(Effect.provide(Effect.service(TokenStore.TokenStore), ctx), (s) => s.verified?.clear())
    yield* clear(p.general)
    const general = yield* Effect.provide(LoadAccessToken.check(bearer, scopes), p.general)
    yield* clear(p.fast)
    const before = p.reads.effect
    const fast = yield* Effect.provide(LoadAccessToken.check(bearer, scopes), p.fast)
    return { fast: JSON.stringify(fast), general: JSON.stringify(general), sync: p.reads.effect === before }
  })

/** `makeCachedCheck` with the ports, on a cold cache: the same decision, or `undefined`. */
const cachedWithPorts = (p: Pair, bearer: string, scopes: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const ports = yield* Effect.all({
      settings: Effect.service(ProxyConfig.Settings),
      store: Effect.service(TokenStore.TokenStore),
      keys: Effect.service(ProxyKeys.ProxyKeys),
      verifier: Effect.service(UpstreamVerifier.UpstreamVerifier),
    }).pipe(Effect.provide(p.fast))
    ports.store.verified?.clear()
    const check = LoadAccessToken.makeCachedCheck(ports.settings, ports.store, ports)
    const decision = check(bearer, yield* Clock.currentTimeMillis, scopes)
    ports.store.verified?.clear()
    return decision === undefined ? undefined : JSON.stringify(decision)
  })

/** A session over a valid id_token (subject u1, an hour left): the common starting point. */
const validSession = (p: Pair) =>
  Effect.gen(function* () {
    const idToken = yield* p.upstream.sign(
      { sub: "u1", aud: p.upstream.clientId, exp: start + 3600 },
      { now: start },
    )
    return yield* session(p, "ts", { idToken })
  })

const same = (p: Pair, bearer: string, scopes: ReadonlyArray<string> = []) =>
  Effect.gen(function* () {
    const d = yield* decide(p, bearer, scopes)
    assert.strictEqual(d.fast, d.general)
    const cached = yield* cachedWithPorts(p, bearer, scopes)
    if (cached !== undefined) assert.strictEqual(cached, d.general)
    return d
  })

describe("SyncCheck", () => {
  it.effect("check - a valid session is decided synchronously, as the general path decides it", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* pair("id_token")
        const { access_token } = yield* validSession(p)
        // The first acceptance per upstream key is confirmed by jose (the general path).
        const first = yield* same(p, access_token)
        assert.include(first.fast, '"_tag":"Allow"')
        const again = yield* same(p, access_token)
        assert.isTrue(again.sync)
        const scoped = yield* same(p, access_token, ["admin"])
        assert.include(scoped.fast, "insufficient_scope")
        assert.isTrue(scoped.sync)
        // Later, with the proxy token expired: refused on both paths.
        yield* TestClock.adjust("11 minutes")
        const late = yield* same(p, access_token)
        assert.include(late.fast, "invalid_token")
      }),
    ),
  )

  it.effect("check - each refusal step and each hand-over to the general path gives the same answer", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* pair("id_token")
        const sign = (claims: Record<string, unknown>) =>
          p.upstream.sign(
            { sub: "u1", aud: p.upstream.clientId, exp: start + 3600, ...claims },
            { now: start },
          )
        const good = yield* sign({})
        yield* same(p, (yield* session(p, "warm", { idToken: good })).access_token)
        const cases: Array<{ readonly name: string; readonly bearer: string; readonly sync: boolean }> = []
        const add = (name: string, bearer: string, sync: boolean) => cases.push({ name, bearer, sync })
        add("valid", (yield* session(p, "s-valid", { idToken: good })).access_token, true)
        add("no id_token", (yield* session(p, "s-none", { idToken: undefined })).access_token, true)
        add(
          "id_token, other audience",
          (yield* session(p, "s-aud", { idToken: yield* sign({ aud: "x" }) })).access_token,
          false,
        )
        add(
          "id_token, other issuer",
          (yield* session(p, "s-iss", { idToken: yield* sign({ iss: "https://evil.test" }) })).access_token,
          false,
        )
        add(
          "id_token expired, session live",
          (yield* session(p, "s-exp", { idToken: yield* sign({ exp: start - 100 }) })).access_token,
          true,
        )
        add(
          "id_token bad signature",
          (yield* session(p, "s-sig", { idToken: `${good.slice(0, -4)}AAAA` })).access_token,
          false,
        )
        add(
          "upstream set near expiry (refresh)",
          (yield* session(p, "s-old", { idToken: good, expires_at: start + 10 })).access_token,
          false,
        )
        add(
          "upstream set expired",
          (yield* session(p, "s-dead", { idToken: good, expires_at: start - 10 })).access_token,
          false,
        )
        const revoked = yield* session(p, "s-revoked", { idToken: good })
        const gone = yield* session(p, "s-gone", { idToken: good })
        const garbled = yield* session(p, "s-garbled", { idToken: good })
        yield* Effect.gen(function* () {
          const store = yield* TokenStore.TokenStore
          yield* store.jtiMappings.delete(revoked.jti)
          yield* store.upstreamTokenSets.delete("s-gone")
        }).pipe(Effect.provide(p.fast))
        // A stored value that does not decrypt: the general path logs it and treats it as missing.
        yield* p.memory.set("upstream:s-garbled", "v1.k1.AAAAAAAAAAAAAAAA.AAAA", "1 hour")
        add("unknown jti", revoked.access_token, true)
        add("upstream set deleted", gone.access_token, true)
        add("upstream record does not decrypt", garbled.access_token, false)
        add("other client", (yield* session(p, "s-client", { idToken: good }, "c2")).access_token, true)
        for (const c of cases) {
          const d = yield* decide(p, c.bearer)
          assert.strictEqual(d.fast, d.general, c.name)
          // A step that needs I/O is resumed where it stopped: the store is read again through
          // the Effect path only when the in-memory read could not answer.
          assert.strictEqual(
            d.sync,
            c.name !== "upstream record does not decrypt",
            `${c.name}: store re-read`,
          )
          const cached = yield* cachedWithPorts(p, c.bearer, [])
          assert.strictEqual(cached, c.sync ? d.general : undefined, `${c.name}: makeCachedCheck`)
        }
        // id_tokens at the edges of their lifetime (the fast path reads `exp` from the verified claims).
        const edges = [
          { exp: start + 1 },
          { exp: start },
          { exp: start - 3 },
          { exp: start - 6 },
          { exp: start + 1.5 },
          { exp: start + 0.25 },
          { nbf: start + 3, exp: start + 4 },
          { nbf: start + 4, exp: start - 2 }, // valid at now only, not at exp − 1 s
          { nbf: start + 6 },
          { exp: "soon" },
          {},
        ]
        for (const [i, claims] of edges.entries()) {
          const token = yield* sign(claims)
          const edge = (yield* session(p, `s-edge-${i}`, { idToken: token })).access_token
          for (const step of ["0 millis", "400 millis", "700 millis"] as const) {
            yield* TestClock.adjust(step)
            yield* same(p, edge)
          }
          yield* TestClock.setTime(start * 1000)
        }
        // Random corruptions of a valid bearer.
        const bearer = cases[0]!.bearer
        const corruptions = fc.sample(
          fc.oneof(
            fc
              .tuple(fc.nat(bearer.length - 1), fc.constantFrom(..."AaZz09-_.=+/ "))
              .map(([i, ch]) => bearer.slice(0, i) + ch + bearer.slice(i + 1)),
            fc.nat(bearer.length - 1).map((i) => bearer.slice(0, i)),
            fc.string({ maxLength: 8 }).map((s) => bearer + s),
          ),
          { numRuns: 150, seed: 8 },
        )
        for (const token of corruptions) yield* same(p, token)
      }),
    ),
  )

  it.effect("check - a store whose getSync throws: the general path reads and reports the failure", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* pair("id_token")
        const { access_token } = yield* validSession(p)
        yield* same(p, access_token)
        const failing: Store.StoreShape = {
          ...p.memory,
          getSync: () => {
            throw new Error("disk I/O error")
          },
          get: () => Effect.fail(Store.storeError("get", new Error("disk I/O error"))),
        }
        const upstream = p.upstream
        const config = TestProxy.config(upstream, {
          verification_mode: "id_token",
          clock_tolerance_seconds: 5,
        })
        const broken = yield* Layer.build(stackOver(upstream, config, failing))
        const exit = yield* Effect.exit(Effect.provide(LoadAccessToken.check(access_token), broken))
        assert.isTrue(exit._tag === "Failure" && JSON.stringify(exit.cause).includes("StoreError"))
      }),
    ),
  )

  it.effect("check - access_token mode decides as the general path", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* pair("access_token")
        const jwt = (claims: Record<string, unknown>) =>
          p.upstream.sign({ sub: "u1", exp: start + 3600, scope: "openid tools", ...claims }, { now: start })
        const good = (yield* session(p, "a1", { access_token: yield* jwt({}) })).access_token
        yield* same(p, good)
        const d = yield* same(p, good, ["tools"])
        assert.include(d.fast, '"_tag":"Allow"')
        assert.isTrue(d.sync)
        const expired = (yield* session(p, "a2", { access_token: yield* jwt({ exp: start - 100 }) }))
          .access_token
        yield* same(p, expired)
        const opaque = (yield* session(p, "a3", {})).access_token
        yield* same(p, opaque)
      }),
    ),
  )

  it.effect("check - an old record shape (full raw, id repeated, extra member) decodes on both paths", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const p = yield* pair("id_token")
        const idToken = yield* p.upstream.sign(
          { sub: "u1", aud: p.upstream.clientId, exp: start + 3600 },
          { now: start },
        )
        yield* same(p, (yield* session(p, "warm", { idToken })).access_token)
        const { access_token } = yield* session(p, "old", { idToken })
        const keys = yield* NodeStorageKeys.make([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(
          Effect.orDie,
        )
        const old = {
          id: "old",
          access_token: "opaque-upstream-access-token",
          id_token: idToken,
          token_type: "Bearer",
          scope: ["openid", "tools"],
          expires_at: start + 3600,
          raw: { access_token: "opaque-upstream-access-token", id_token: idToken, expires_in: 3600 },
          legacy: true,
        }
        yield* p.memory.set("upstream:old", yield* keys.encrypt(JSON.stringify(old)), "1 hour")
        const d = yield* same(p, access_token)
        assert.include(d.fast, '"_tag":"Allow"')
        assert.isTrue(d.sync)
        const stored = yield* Effect.provide(
          Effect.flatMap(Effect.service(TokenStore.TokenStore), (s) => s.upstreamTokenSets.get("old")),
          p.fast,
        )
        assert.isTrue(Option.isSome(stored) && !("legacy" in stored.value))
      }),
    ),
  )

  it.effect("check - random upstream claims, header types, session expiries and times: same decisions", () =>
    Effect.scoped(
      Effect.gen(function* () {
        for (const mode of ["id_token", "access_token"] as const) {
          const p = yield* pair(mode)
          const { issuer, clientId, kid } = p.upstream
          // Any payload, signed as is (no iat added), with an optional typ.
          const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64url")
          const signRaw = (payload: Record<string, unknown>, typ: string | undefined) =>
            Effect.promise(async () => {
              const header = { alg: "RS256", kid, ...(typ === undefined ? {} : { typ }) }
              const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`
              const signature = await crypto.subtle.sign(
                "RSASSA-PKCS1-v1_5",
                p.upstream.privateKey,
                new TextEncoder().encode(input),
              )
              return `${input}.${Buffer.from(signature).toString("base64url")}`
            })
          // The first acceptance per key is confirmed by jose: warm it so the fast path can answer.
          const warm = yield* signRaw({ iss: issuer, sub: "u1", aud: clientId, exp: start + 3600 }, undefined)
          yield* same(
            p,
            (yield* session(p, `warm-${mode}`, { idToken: warm, access_token: warm })).access_token,
          )
          const absent = fc.constant(undefined)
          const time = fc.oneof(
            fc.integer({ min: -20, max: 20 }).map((d) => start + d),
            fc.integer({ min: -80, max: 80 }).map((d) => start + d / 8),
            fc.constantFrom(start + 3600, start - 3600, 1e308, -1, 0),
          )
          const claims = fc.record({
            iss: fc.oneof(
              { arbitrary: fc.constant(issuer), weight: 6 },
              fc.constantFrom("https://evil.test", `${issuer}/`, [issuer]),
            ),
            sub: fc.oneof(absent, fc.constantFrom("u1", "u2", "", 5)),
            aud: fc.oneof(
              { arbitrary: fc.constant(clientId), weight: 4 },
              absent,
              fc.constantFrom([clientId], ["x", clientId], "x", [], [1, clientId], [clientId, clientId]),
            ),
            exp: fc.oneof(
              { arbitrary: fc.constant(start + 3600), weight: 4 },
              absent,
              time,
              fc.constantFrom("soon", null, [start + 3600]),
            ),
            nbf: fc.oneof({ arbitrary: absent, weight: 4 }, time, fc.constantFrom("x", null)),
            iat: fc.oneof(
              { arbitrary: fc.constant(start), weight: 4 },
              absent,
              time,
              fc.constantFrom("x", null),
            ),
            scope: fc.oneof(
              absent,
              fc.constantFrom("openid tools", "  tools\topenid tools ", "", 5, ["tools"]),
            ),
            scp: fc.oneof(absent, fc.constantFrom("admin", ["tools", "admin", 5], [], null)),
          })
          const cases = fc.sample(
            fc.record({
              claims,
              typ: fc.constantFrom(undefined, "JWT", "at+jwt", "application/at+jwt"),
              expiresIn: fc.constantFrom(3600, 3600, 3600, 200, 61, 59, 10, 0, -5),
              refresh: fc.boolean(),
              wait: fc.integer({ min: 0, max: 12_000 }),
              required: fc.constantFrom([], ["tools"], ["admin"], ["openid", "tools"]),
            }),
            { numRuns: 200, seed: 3461 },
          )
          for (const [i, c] of cases.entries()) {
            const payload = Object.fromEntries(Object.entries(c.claims).filter(([, v]) => v !== undefined))
            const token = yield* signRaw(payload, c.typ)
            const bearer = (yield* session(p, `r-${mode}-${i}`, {
              idToken: token,
              access_token: token,
              expires_at: start + c.expiresIn,
              ...(c.refresh ? { refresh_token: "upstream-refresh-token" } : {}),
            })).access_token
            yield* TestClock.adjust(`${c.wait} millis`)
            yield* same(p, bearer, c.required)
            yield* TestClock.setTime(start * 1000)
          }
        }
      }),
    ),
  )
})

/**
 * The two interpreters of the bearer pipeline agree: for any generated world — proxy token,
 * jti mapping, upstream token set (fresh, due for a refresh, expired), upstream verdict, an
 * upstream client that refreshes, refuses or is down, a failing store, the clock, and which of
 * those answers are in memory — running the synchronous interpreter and resuming with the Effect
 * one where it stopped gives exactly the answer of the Effect interpreter over ports with no
 * synchronous capability at all, leaves the same store, and caches the same.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import type { JtiMapping } from "../src/JtiMapping.ts"
import * as LoadAccessToken from "../src/LoadAccessToken.ts"
import { InvalidToken, StoreError, UpstreamError } from "../src/OAuthError.ts"
import * as ProxyConfig from "../src/ProxyConfig.ts"
import type { ProxyKeysShape } from "../src/ProxyKeys.ts"
import type { ProxyTokenClaims } from "../src/ProxyTokenClaims.ts"
import { TokenStore, type TokenStoreShape } from "../src/TokenStore.ts"
import { UpstreamClient } from "../src/Upstream.ts"
import type { UpstreamTokenSet } from "../src/UpstreamTokenSet.ts"
import type { Expectation, UpstreamVerifierShape } from "../src/UpstreamVerifier.ts"
import * as VerifiedTokenCache from "../src/VerifiedTokenCache.ts"

const start = 1_800_000_000
const issuer = "https://idp.test"
const bearer = "proxy-token"

const rarely = fc.constantFrom(false, false, false, true)
const mostly = fc.constantFrom(true, true, true, false)

const world = fc.record({
  mode: fc.constantFrom("id_token", "access_token"),
  waitMillis: fc.oneof(fc.integer({ min: 0, max: 4_000 }), fc.integer({ min: 0, max: 90_000 })),
  proxy: fc.record({
    refused: rarely,
    client: fc.constantFrom("c1", "c1", "c2"),
    exp: fc.constantFrom(start + 600, start + 600, start + 30, start - 10),
  }),
  mapping: fc.constantFrom("c1", "c1", "c1", undefined),
  upstream: fc.option(
    fc.record({
      expiresIn: fc.constantFrom(3600, 3600, 70, 30, -10),
      idToken: mostly,
      refreshToken: fc.boolean(),
      scope: fc.constantFrom(["openid", "tools"], ["tools", "openid", "tools"], []),
    }),
    { nil: undefined, freq: 5 },
  ),
  verdict: fc.record({
    accept: mostly,
    // With nbf start + 4 and exp start − 2: valid at the first seconds only, not at exp − 1 s.
    exp: fc.constantFrom(undefined, start + 3600, start + 1, start, start - 2, start - 2, start - 100),
    nbf: fc.constantFrom(undefined, start + 4, start + 80),
    sub: fc.constantFrom(undefined, "u1", ""),
  }),
  refresh: fc.constantFrom("absent", "ok", "ok-no-id-token", "refused", "down"),
  storeFails: rarely,
  inMemory: fc.record({ proxy: mostly, store: mostly, verifier: mostly }),
  required: fc.constantFrom([], ["tools"], ["admin"]),
})
type World = typeof world extends fc.Arbitrary<infer A> ? A : never

const config = (mode: string) =>
  ProxyConfig.decode({
    issuer: "https://proxy.test",
    resource: "https://proxy.test/mcp",
    verification_mode: mode,
    clock_tolerance_seconds: 5,
    cache_ttl_seconds: 300,
    upstream: { issuer, client_id: "proxy-client" },
  }).pipe(Effect.orDie)

/** A JWT-shaped token whose payload carries `exp` (`UpstreamSession.expOf` reads it); unsigned. */
const jwt = (name: string, exp: number | undefined) =>
  `e30.${Buffer.from(JSON.stringify(exp === undefined ? {} : { exp })).toString("base64url")}.${name}`

/** The ports over `w`, with synchronous capabilities only when `sync` (and `w` says in memory). */
const portsOf = (w: World, sync: boolean) => {
  const claims: ProxyTokenClaims = {
    iss: "https://proxy.test",
    aud: "https://proxy.test/mcp",
    sub: "u1",
    client_id: w.proxy.client,
    jti: "j1",
    exp: w.proxy.exp,
    iat: start - 5,
  }
  const proxyAnswer = w.proxy.refused
    ? new InvalidToken({ reason: "signature", source: "proxy", description: "bad signature" })
    : claims
  const keys: ProxyKeysShape = {
    sign: () => Effect.die("unused"),
    verify: (token) =>
      token !== bearer || proxyAnswer instanceof InvalidToken
        ? Effect.fail(proxyAnswer as InvalidToken)
        : Effect.succeed(proxyAnswer),
    ...(sync && w.inMemory.proxy ? { verifySync: () => proxyAnswer } : {}),
  }
  const mappings = new Map<string, JtiMapping>()
  if (w.mapping !== undefined)
    mappings.set("j1", {
      jti: "j1",
      upstream_token_set_id: "ts",
      client_id: w.mapping,
      expires_at: start + 600,
    })
  const sets = new Map<string, UpstreamTokenSet>()
  if (w.upstream !== undefined)
    sets.set("ts", {
      id: "ts",
      access_token: "upstream-at",
      ...(w.upstream.idToken ? { id_token: jwt("idt", w.verdict.exp) } : {}),
      ...(w.upstream.refreshToken ? { refresh_token: "upstream-rt" } : {}),
      token_type: "Bearer",
      scope: w.upstream.scope,
      expires_at: start + w.upstream.expiresIn,
      raw: {},
    })
  const collection = <A>(map: Map<string, A>) => ({
    get: (id: string) =>
      w.storeFails
        ? Effect.fail(new StoreError({ operation: "get", description: "down" }))
        : Effect.succeed(Option.fromUndefinedOr(map.get(id))),
    set: (id: string, value: A) => Effect.sync(() => void map.set(id, value)),
    ...(sync && w.inMemory.store && !w.storeFails
      ? { getSync: (id: string) => Option.fromUndefinedOr(map.get(id)) }
      : {}),
  })
  const verified = VerifiedTokenCache.make({ ttlMillis: 300_000, maxEntries: 10 })
  const store = {
    jtiMappings: collection(mappings),
    upstreamTokenSets: collection(sets),
    verified,
  } as unknown as TokenStoreShape
  const judge = (token: string, expect: Expectation, clock: number) => {
    const now = expect.notAfter === undefined ? clock : Math.min(clock, (expect.notAfter - 1) * 1000)
    const { exp, sub } = w.verdict
    const { nbf } = w.verdict
    const ok =
      w.verdict.accept &&
      expect.issuer === issuer &&
      (exp === undefined || now / 1000 < exp + 5) &&
      (nbf === undefined || now / 1000 >= nbf - 5)
    return ok
      ? {
          iss: issuer,
          ...(exp === undefined ? {} : { exp }),
          ...(sub === undefined ? {} : { sub }),
          scope: token,
        }
      : new InvalidToken({ reason: "expired", source: "upstream", description: `refused ${token}` })
  }
  const verifier: UpstreamVerifierShape = {
    verify: (token, expect) =>
      Effect.flatMap(
        Effect.clockWith((c) => Effect.succeed(c.currentTimeMillisUnsafe())),
        (clock) => {
          const answer = judge(token, expect, clock)
          return answer instanceof InvalidToken ? Effect.fail(answer) : Effect.succeed(answer)
        },
      ),
    ...(sync && w.inMemory.verifier
      ? {
          verifySync: (token: string, expect: Expectation, clock: number) => {
            const answer = judge(token, expect, clock)
            return answer instanceof InvalidToken ? undefined : answer
          },
        }
      : {}),
  }
  const client = UpstreamClient.of({
    metadata: undefined as never,
    exchangeCode: () => Effect.die("unused"),
    revoke: () => Effect.void,
    refresh: () =>
      w.refresh === "refused" || w.refresh === "down"
        ? Effect.fail(
            new UpstreamError({
              reason: w.refresh === "refused" ? "rejected" : "unreachable",
              retryable: w.refresh === "down",
              description: "no",
            }),
          )
        : Effect.succeed({
            access_token: "upstream-at-2",
            ...(w.refresh === "ok" ? { id_token: jwt("idt-2", w.verdict.exp) } : {}),
            token_type: "Bearer",
            expires_in: 3600,
            raw: {},
          }),
  })
  return { keys, store, verifier, client, sets, verified }
}

/** What an interpreter answered, as comparable text. */
const show = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isSuccess(exit)
    ? exit.value instanceof InvalidToken
      ? `refused ${exit.value.reason} ${exit.value.description}`
      : JSON.stringify(exit.value)
    : `failed ${JSON.stringify(exit.cause)}`

const interpretIn = (w: World, sync: boolean) =>
  Effect.gen(function* () {
    const settings = yield* config(w.mode)
    const ports = portsOf(w, sync)
    const p = LoadAccessToken.makePipeline(settings, ports.keys, ports.store, ports.verifier)
    const now = start * 1000 + w.waitMillis
    yield* TestClock.setTime(now)
    const pending = new LoadAccessToken.Pending(bearer, now, ports.verified.epoch())
    const first = sync ? LoadAccessToken.run(p, pending) : pending
    const exit = yield* Effect.exit(
      first instanceof LoadAccessToken.Pending ? LoadAccessToken.resume(p, first) : Effect.succeed(first),
    ).pipe(
      Effect.provideService(ProxyConfig.Settings, settings),
      Effect.provideService(TokenStore, ports.store),
      w.refresh === "absent" ? (e) => e : Effect.provideService(UpstreamClient, ports.client),
    )
    return {
      answer: show(exit),
      synchronous: !(first instanceof LoadAccessToken.Pending),
      stored: JSON.stringify([...ports.sets]),
      cached: ports.verified.size(),
    }
  })

describe("LoadAccessToken interpreters", () => {
  it.effect("run then resume - the same answer, store and cache as the Effect interpreter alone", () =>
    Effect.gen(function* () {
      const worlds = fc.sample(world, { numRuns: 1500, seed: 14 })
      let synchronous = 0
      for (const w of worlds) {
        const effectOnly = yield* interpretIn(w, false)
        const syncThenResume = yield* interpretIn(w, true)
        assert.deepStrictEqual({ ...syncThenResume, synchronous: false }, effectOnly, JSON.stringify(w))
        if (syncThenResume.synchronous) synchronous++
      }
      // The generator reaches both interpreters: many worlds are decided in memory alone.
      assert.isAbove(synchronous, 150)
    }),
  )
})

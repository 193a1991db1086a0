/**
 * The upstream JWT verifier's rules, in core (jose over the `Jwks` port): signature at the IdP's
 * keys, `iss`, `aud`, `exp`/`nbf` with the leeway at the `Clock`'s time, asymmetric algorithms
 * only, one JWKS refresh for an unknown `kid`, and `notAfter` (the id_token of a live session).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { SignJWT } from "jose"
import { Jwks } from "../src/Jwks.ts"
import * as ProxyConfig from "../src/ProxyConfig.ts"
import { TestProxy, TestUpstream } from "../src/testing/index.ts"
import * as UpstreamVerifier from "../src/UpstreamVerifier.ts"

const start = 1_800_000_000

/** Audience: the client id unless given (`undefined`: none expected). */
interface Expect {
  readonly audience?: string | undefined
  readonly notAfter?: number
}

const withVerifier = <A, E>(
  body: (
    upstream: TestUpstream.TestUpstream,
    verify: (token: string, expect?: Expect) => Effect.Effect<string>,
    refreshes: () => number,
  ) => Effect.Effect<A, E>,
) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(start * 1000)
    const upstream = yield* TestUpstream.make()
    let refreshed = 0
    const jwks = Layer.succeed(
      Jwks,
      Jwks.of({
        current: Effect.succeed(upstream.jwks),
        refresh: () =>
          Effect.sync(() => {
            refreshed++
            return upstream.jwks
          }),
      }),
    )
    const config = TestProxy.config(upstream, { clock_tolerance_seconds: 5, cache_ttl_seconds: 0 })
    const verifier = yield* UpstreamVerifier.makeJwt.pipe(
      Effect.provide(jwks),
      Effect.provideServiceEffect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(config))),
    )
    const verify = (token: string, expect: Expect = {}) => {
      const audience = "audience" in expect ? expect.audience : upstream.clientId
      return verifier
        .verify(token, {
          issuer: upstream.issuer,
          ...(audience === undefined ? {} : { audience }),
          ...(expect.notAfter === undefined ? {} : { notAfter: expect.notAfter }),
        })
        .pipe(
          Effect.match({
            onSuccess: (c) => `ok ${c.sub}`,
            onFailure: (e) => `${e._tag} ${"reason" in e ? e.reason : ""}`,
          }),
        )
    }
    return yield* body(upstream, verify, () => refreshed)
  })

describe("UpstreamVerifier", () => {
  it.effect("verify - a token signed by the IdP for this client is accepted", () =>
    withVerifier((upstream, verify) =>
      Effect.gen(function* () {
        const token = yield* upstream.sign(
          { sub: "u1", aud: upstream.clientId, exp: start + 60 },
          { now: start },
        )
        assert.strictEqual(yield* verify(token), "ok u1")
      }),
    ),
  )

  it.effect(
    "verify - another audience, issuer, an expired or not yet valid token: refused with the reason",
    () =>
      withVerifier((upstream, verify) =>
        Effect.gen(function* () {
          const sign = (claims: Record<string, unknown>) =>
            upstream.sign({ sub: "u1", aud: upstream.clientId, exp: start + 60, ...claims }, { now: start })
          assert.strictEqual(yield* verify(yield* sign({ aud: "other" })), "InvalidToken audience")
          assert.strictEqual(yield* verify(yield* sign({ iss: "https://evil.test" })), "InvalidToken issuer")
          assert.strictEqual(yield* verify(yield* sign({ exp: start - 6 })), "InvalidToken expired")
          // Within the leeway (5 s) on either side.
          assert.strictEqual(yield* verify(yield* sign({ exp: start - 4 })), "ok u1")
          assert.strictEqual(yield* verify(yield* sign({ nbf: start + 4 })), "ok u1")
          assert.strictEqual(yield* verify(yield* sign({ nbf: start + 6 })), "InvalidToken not_yet_valid")
          // Without an expected audience, `aud` is not checked (access tokens without a configured audience).
          assert.strictEqual(yield* verify(yield* sign({ aud: "other" }), { audience: undefined }), "ok u1")
        }),
      ),
  )

  it.effect(
    "verify - notAfter: an id_token past its exp is accepted as of its own exp, signature still checked",
    () =>
      withVerifier((upstream, verify) =>
        Effect.gen(function* () {
          const token = yield* upstream.sign(
            { sub: "u1", aud: upstream.clientId, exp: start - 600 },
            { now: start - 900 },
          )
          assert.strictEqual(yield* verify(token), "InvalidToken expired")
          assert.strictEqual(yield* verify(token, { notAfter: start - 600 }), "ok u1")
          assert.strictEqual(
            yield* verify(`${token.slice(0, -4)}AAAA`, { notAfter: start - 600 }),
            "InvalidToken signature",
          )
        }),
      ),
  )

  it.effect(
    "verify - symmetric algorithms are refused; an unknown kid refreshes the JWKS once, then fails",
    () =>
      withVerifier((upstream, verify, refreshes) =>
        Effect.gen(function* () {
          const hs = yield* Effect.promise(() =>
            new SignJWT({ iss: upstream.issuer, sub: "u1", aud: upstream.clientId, exp: start + 60 })
              .setProtectedHeader({ alg: "HS256", kid: upstream.kid })
              .sign(new Uint8Array(32)),
          )
          assert.strictEqual(yield* verify(hs), "InvalidToken algorithm")
          const unknown = yield* upstream.sign(
            { sub: "u1", aud: upstream.clientId, exp: start + 60 },
            { kid: "rotated", now: start },
          )
          assert.strictEqual(yield* verify(unknown), "InvalidToken unknown_kid")
          assert.strictEqual(refreshes(), 1)
        }),
      ),
  )
})

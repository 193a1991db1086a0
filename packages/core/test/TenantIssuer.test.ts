/**
 * Templated issuers (Entra `{tenantid}`): the substitution rule, and the JWT verifier checking a
 * token's `iss` against the template filled with the token's own `tid` (and the `client_id` claim
 * rule for access tokens without `aud`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Jwks } from "../src/Jwks.ts"
import * as ProxyConfig from "../src/ProxyConfig.ts"
import * as TenantIssuer from "../src/TenantIssuer.ts"
import { TestProxy, TestUpstream } from "../src/testing/index.ts"
import * as UpstreamVerifier from "../src/UpstreamVerifier.ts"

const start = 1_800_000_000
const template = "https://login.example/{tenantid}/v2.0"
const tidA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
const tidB = "9188040d-6c67-4c5b-b112-36a304b66dad"

describe("TenantIssuer", () => {
  it("resolve - only a GUID tid is substituted", () => {
    assert.strictEqual(TenantIssuer.resolve(template, { tid: tidA }), `https://login.example/${tidA}/v2.0`)
    for (const tid of [undefined, "", "contoso", "../x", "{tenantid}", tidA.toUpperCase(), `${tidA}/x`, 42])
      assert.isUndefined(TenantIssuer.resolve(template, { tid }))
    assert.strictEqual(TenantIssuer.resolve("https://plain.example", {}), "https://plain.example")
    assert.isFalse(TenantIssuer.isTemplate("https://a/{tenantid}/{tenantid}"))
  })

  it("matches - an authorization response's iss: the template with some GUID, nothing else", () => {
    assert.isTrue(TenantIssuer.matches(template, `https://login.example/${tidA}/v2.0`))
    for (const iss of [
      template,
      "https://login.example/x/v2.0",
      `https://login.example/${tidA}/v2.0/x`,
      `https://evil.example/${tidA}/v2.0`,
    ])
      assert.isFalse(TenantIssuer.matches(template, iss), iss)
    assert.isTrue(TenantIssuer.matches("https://plain.example", "https://plain.example"))
    assert.isFalse(TenantIssuer.matches("https://plain.example", "https://plain.example/"))
  })
})

const withVerifier = <A, E>(
  body: (
    upstream: TestUpstream.TestUpstream,
    verify: (token: string, expect: UpstreamVerifier.Expectation) => Effect.Effect<string>,
  ) => Effect.Effect<A, E>,
) =>
  Effect.gen(function* () {
    yield* TestClock.setTime(start * 1000)
    const upstream = yield* TestUpstream.make()
    const jwks = Layer.succeed(
      Jwks,
      Jwks.of({ current: Effect.succeed(upstream.jwks), refresh: () => Effect.succeed(upstream.jwks) }),
    )
    // Result cache on: a token accepted under one expectation must not be accepted under another.
    const config = TestProxy.config(upstream, { cache_ttl_seconds: 30 })
    const verifier = yield* UpstreamVerifier.makeJwt.pipe(
      Effect.provide(jwks),
      Effect.provideServiceEffect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(config))),
    )
    const verify = (token: string, expect: UpstreamVerifier.Expectation) =>
      verifier.verify(token, expect).pipe(
        Effect.match({
          onSuccess: (c) => `ok ${c.sub}`,
          onFailure: (e) => `${e._tag} ${"reason" in e ? e.reason : ""}`,
        }),
      )
    return yield* body(upstream, verify)
  })

describe("UpstreamVerifier with a templated issuer", () => {
  it.effect("verify - iss must be the template with the token's own GUID tid", () =>
    withVerifier((upstream, verify) =>
      Effect.gen(function* () {
        const sign = (claims: Record<string, unknown>) =>
          upstream.sign({ sub: "u1", aud: upstream.clientId, exp: start + 60, ...claims }, { now: start })
        const expect = { issuer: template, audience: upstream.clientId }
        const good = yield* sign({ iss: `https://login.example/${tidA}/v2.0`, tid: tidA })
        assert.strictEqual(yield* verify(good, expect), "ok u1")
        // Another tenant's issuer with this tid, the literal template, a missing or non-GUID tid.
        for (const claims of [
          { iss: `https://login.example/${tidB}/v2.0`, tid: tidA },
          { iss: template, tid: tidA },
          { iss: template },
          { iss: `https://login.example/${tidA}/v2.0` },
          { iss: "https://login.example/x/v2.0", tid: "x" },
          { iss: "https://evil.example/x/v2.0", tid: tidA },
        ])
          assert.strictEqual(yield* verify(yield* sign(claims), expect), "InvalidToken issuer")
        // The accepted token is still checked against a plain issuer exactly.
        assert.strictEqual(
          yield* verify(good, { issuer: "https://login.example/common/v2.0" }),
          "InvalidToken issuer",
        )
      }),
    ),
  )

  it.effect("verify - clientId: the client_id claim must equal it (access tokens without aud)", () =>
    withVerifier((upstream, verify) =>
      Effect.gen(function* () {
        const sign = (claims: Record<string, unknown>) =>
          upstream.sign({ sub: "u1", exp: start + 60, ...claims }, { now: start })
        const expect = { issuer: upstream.issuer, clientId: upstream.clientId }
        const mine = yield* sign({ client_id: upstream.clientId })
        assert.strictEqual(yield* verify(mine, expect), "ok u1")
        assert.strictEqual(
          yield* verify(yield* sign({ client_id: "other-app" }), expect),
          "InvalidToken audience",
        )
        assert.strictEqual(yield* verify(yield* sign({}), expect), "InvalidToken audience")
        // A token remembered under no clientId rule is checked again under one.
        const other = yield* sign({ client_id: "other-app" })
        assert.strictEqual(yield* verify(other, { issuer: upstream.issuer }), "ok u1")
        assert.strictEqual(yield* verify(other, expect), "InvalidToken audience")
      }),
    ),
  )
})

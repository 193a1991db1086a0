/**
 * The network strategies' cache seen through the bearer check: a token the provider stops
 * accepting is refused once `cache_ttl_seconds` have passed since the provider last said yes — also
 * for a proxy token first presented while the upstream answer was already cached (the bearer cache
 * is bounded by the verifier's `validUntil`, not restarted from the later check).
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { issueAccessToken } from "../src/IssueAccessToken.ts"
import * as LoadAccessToken from "../src/LoadAccessToken.ts"
import * as NetworkVerifier from "../src/NetworkVerifier.ts"
import { InvalidToken } from "../src/OAuthError.ts"
import * as ProxyConfig from "../src/ProxyConfig.ts"
import * as StorageKeys from "../src/StorageKeys.ts"
import * as Store from "../src/Store.ts"
import * as TokenStore from "../src/TokenStore.ts"
import { TestProxy } from "../src/testing/index.ts"
import { UpstreamVerifier } from "../src/UpstreamVerifier.ts"

const start = 1_800_000_000
const ttl = 5

describe("NetworkVerifier - through the bearer check", () => {
  it.effect("a token turned inactive is refused within the TTL of the provider's last answer", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start * 1000)
      const provider = { active: true, calls: 0 }
      const lookup: NetworkVerifier.Lookup = (_token, expect) =>
        Effect.suspend(() => {
          provider.calls++
          const claims = NetworkVerifier.fromIntrospection(
            { active: provider.active, sub: "u1", scope: "openid", exp: start + 3600 },
            expect,
            { subjectClaim: "sub", tolerance: 5 },
            start,
          )
          return claims instanceof InvalidToken ? Effect.fail(claims) : Effect.succeed(claims)
        })
      const config = {
        issuer: "https://proxy.test",
        resource: "https://proxy.test/mcp",
        cache_ttl_seconds: ttl,
        upstream: { issuer: "https://idp.test", client_id: "proxy", verification: "introspection" },
      }
      const settings = Layer.effect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(config)))
      const keys = StorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)
      const services = Layer.mergeAll(
        TestProxy.keysLayer(),
        Layer.effect(UpstreamVerifier, NetworkVerifier.make(lookup)).pipe(Layer.provide(keys)),
        TokenStore.layer.pipe(Layer.provide(Layer.merge(Store.layerMemory, keys))),
      ).pipe(Layer.provideMerge(settings))
      yield* Effect.gen(function* () {
        const store = yield* TokenStore.TokenStore
        yield* store.upstreamTokenSets.set(
          "ts",
          {
            id: "ts",
            access_token: "opaque",
            token_type: "Bearer",
            scope: ["openid"],
            expires_at: start + 3600,
            raw: {},
          },
          "2 hours",
        )
        const issue = issueAccessToken({
          upstream_token_set_id: "ts",
          client_id: "c1",
          subject: "u1",
          scopes: ["openid"],
          lifetime: 3600,
        })
        const first = yield* issue
        const second = yield* issue
        const allowed = (token: string) => Effect.map(LoadAccessToken.check(token), (d) => d._tag === "Allow")
        assert.isTrue(yield* allowed(first.access_token))
        assert.strictEqual(provider.calls, 1)
        // Later, a second proxy token over the same upstream token: answered from the cached answer.
        yield* TestClock.adjust(`${ttl - 2} seconds`)
        assert.isTrue(yield* allowed(second.access_token))
        assert.strictEqual(provider.calls, 1)
        provider.active = false
        // TTL seconds after the provider's answer (not after the second check): asked again, refused.
        yield* TestClock.adjust("2 seconds")
        assert.isFalse(yield* allowed(second.access_token))
        assert.isFalse(yield* allowed(first.access_token))
        assert.isAtLeast(provider.calls, 2)
      }).pipe(Effect.provide(services))
    }),
  )
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as ProxyConfig from "../src/ProxyConfig.ts"

const valid = {
  issuer: "https://proxy.test",
  resource: "https://proxy.test/mcp",
  upstream: { issuer: "https://idp.test", client_id: "proxy" },
}

describe("ProxyConfig", () => {
  it.effect("decode - fills documented defaults", () =>
    Effect.gen(function* () {
      const c = yield* ProxyConfig.decode(valid)
      assert.strictEqual(c.verification_mode, "access_token")
      assert.strictEqual(c.consent, "on")
      assert.strictEqual(c.ttl.authorization_code, 300)
      assert.strictEqual(c.ttl.access_token, 3600)
      assert.strictEqual(c.callback_path, "/auth/callback")
      assert.isTrue(c.registration.enabled)
      assert.deepStrictEqual(c.upstream.scopes, ["openid"])
      assert.include(c.upstream.algorithms, "RS256")
      assert.notInclude(c.upstream.algorithms, "HS256")
    }),
  )

  it.effect("decode - names every bad field at once", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        ProxyConfig.decode({
          ...valid,
          issuer: "not a url",
          consent: "sometimes",
          ttl: { access_token: -5 },
          upstream: { issuer: "ftp://idp.test" },
        }),
      )
      const text = error.issues.join("\n")
      assert.include(text, "issuer")
      assert.include(text, "consent")
      assert.include(text, "ttl.access_token")
      assert.include(text, "upstream.issuer")
      assert.include(text, "upstream.client_id")
      assert.isAtLeast(error.issues.length, 5)
    }),
  )

  it.effect("decode - the registration token is redacted", () =>
    Effect.gen(function* () {
      const c = yield* ProxyConfig.decode({
        ...valid,
        registration: { initial_access_token: "s3cr3t-token" },
      })
      const token = c.registration.initial_access_token
      assert.isDefined(token)
      if (token !== undefined) {
        assert.strictEqual(Redacted.value(token), "s3cr3t-token")
        assert.notInclude(String(token), "s3cr3t")
      }
    }),
  )

  it.effect(
    "decode - endpoints by hand: half of them, or a strategy's endpoint missing, names the field",
    () =>
      Effect.gen(function* () {
        const upstream = (fields: Record<string, unknown>) =>
          Effect.flip(ProxyConfig.decode({ ...valid, upstream: { ...valid.upstream, ...fields } }))
        const byHand = { authorization_endpoint: "https://idp.test/a", token_endpoint: "https://idp.test/t" }
        const half = yield* upstream({ authorization_endpoint: "https://idp.test/a" })
        assert.match(
          half.issues.join("\n"),
          /^upstream\.token_endpoint: required when upstream\.authorization_endpoint/,
        )
        const jwt = yield* upstream(byHand)
        assert.match(jwt.issues.join("\n"), /^upstream\.jwks_uri: required by upstream\.verification "jwt"/)
        const introspection = yield* upstream({
          ...byHand,
          verification: "introspection",
          jwks_uri: "https://idp.test/k",
        })
        assert.match(introspection.issues.join("\n"), /^upstream\.introspection_endpoint: required/)
        const userinfo = yield* upstream({ ...byHand, verification: "userinfo" })
        assert.match(userinfo.issues.join("\n"), /^upstream\.userinfo_endpoint: required/)
        const idTokenMode = yield* Effect.flip(
          ProxyConfig.decode({
            ...valid,
            verification_mode: "id_token",
            upstream: { ...valid.upstream, verification: "introspection" },
          }),
        )
        assert.match(
          idTokenMode.issues.join("\n"),
          /^upstream\.verification: "introspection" verifies the upstream access token/,
        )
        // A userinfo answer does not say which client the token was issued to.
        const userinfoClient = yield* upstream({ verification: "userinfo", access_token_client_id: true })
        assert.match(
          userinfoClient.issues.join("\n"),
          /^upstream\.access_token_client_id: cannot be checked by upstream\.verification "userinfo"/,
        )
      }),
  )

  it.effect("decode - endpoints by hand with the strategy's endpoint, or discovery, decode", () =>
    Effect.gen(function* () {
      const byHand = yield* ProxyConfig.decode({
        ...valid,
        upstream: {
          ...valid.upstream,
          authorization_endpoint: "https://idp.test/a",
          token_endpoint: "https://idp.test/t",
          introspection_endpoint: "https://idp.test/i",
          verification: "introspection",
        },
      })
      assert.isTrue(ProxyConfig.endpointsByHand(byHand.upstream))
      assert.strictEqual(byHand.upstream.subject_claim, "sub")
      const discovered = yield* ProxyConfig.decode({
        ...valid,
        upstream: { ...valid.upstream, verification: "userinfo" },
      })
      assert.isFalse(ProxyConfig.endpointsByHand(discovered.upstream))
      assert.strictEqual(discovered.upstream.verification, "userinfo")
    }),
  )
})

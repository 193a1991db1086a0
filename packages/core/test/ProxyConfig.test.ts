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
})

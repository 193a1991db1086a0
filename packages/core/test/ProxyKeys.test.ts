import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { generateKeyPair } from "jose"
import * as ProxyConfig from "../src/ProxyConfig.ts"
import * as ProxyKeys from "../src/ProxyKeys.ts"

const settings = Layer.effect(
  ProxyConfig.Settings,
  Effect.orDie(
    ProxyConfig.decode({
      issuer: "https://proxy.test",
      resource: "https://proxy.test/mcp",
      upstream: { issuer: "https://idp.test", client_id: "c" },
    }),
  ),
)

const key = (kid: string, alg: "ES256" | "EdDSA") =>
  Effect.promise(async () => {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
    return { kid, alg, privateKey, publicKey } satisfies ProxyKeys.AsymmetricKey
  })

const claims = (now: number) => ({
  iss: "https://proxy.test",
  aud: "https://proxy.test/mcp",
  sub: "u",
  client_id: "c",
  jti: "j",
  iat: now,
  exp: now + 600,
})

describe("ProxyKeys", () => {
  it.effect("asymmetric - ES256 and EdDSA tokens verify; keys rotate by kid", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_800_000_000_000)
      const old = yield* key("old", "ES256")
      const next = yield* key("new", "EdDSA")
      const before = yield* Effect.flatMap(ProxyKeys.makeAsymmetric([old]), (k) =>
        k.sign(claims(1_800_000_000)),
      )
      const rotated = yield* ProxyKeys.makeAsymmetric([next, old])
      const after = yield* rotated.sign(claims(1_800_000_000))
      assert.strictEqual((yield* rotated.verify(before)).sub, "u")
      assert.strictEqual((yield* rotated.verify(after)).sub, "u")
      const header = JSON.parse(Buffer.from(after.split(".")[0]!, "base64url").toString())
      assert.deepStrictEqual([header.alg, header.kid, header.typ], ["EdDSA", "new", "at+jwt"])
      const dropped = yield* ProxyKeys.makeAsymmetric([next])
      const refused = yield* Effect.flip(dropped.verify(before))
      assert.strictEqual(refused.reason, "algorithm")
      const jwks = yield* ProxyKeys.publicJwks([next, old])
      assert.deepStrictEqual(
        jwks.keys.map((k) => k.kid),
        ["new", "old"],
      )
      assert.isTrue(jwks.keys.every((k) => k.d === undefined))
    }).pipe(Effect.provide(settings)),
  )

  it.effect("fromSecret - a secret shorter than 32 bytes is refused", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(ProxyKeys.deriveKey(Redacted.make("short"), "x"))
      assert.strictEqual(error._tag, "WeakSecret")
    }),
  )
})

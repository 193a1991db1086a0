/**
 * NodeProxyKeys: the node:crypto HS256 implementation decides exactly as the jose one — same
 * accepted claims, same refusal reasons and descriptions — on a corpus of crafted tokens and on
 * random corruptions of a valid one.
 */

import { createHmac } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { ProxyConfig, ProxyKeys } from "@oidc-proxy/core"
import { Effect, Exit, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import * as NodeProxyKeys from "../src/NodeProxyKeys.ts"

const now = 1_800_000_000
const secret = Redacted.make("node-proxy-keys-test-secret-0123456789abcdef")
const settings = Layer.effect(
  ProxyConfig.Settings,
  Effect.orDie(
    ProxyConfig.decode({
      issuer: "https://proxy.test",
      resource: "https://proxy.test/mcp",
      clock_tolerance_seconds: 5,
      upstream: { issuer: "https://idp.test", client_id: "c" },
    }),
  ),
)

const claims = {
  iss: "https://proxy.test",
  aud: "https://proxy.test/mcp",
  sub: "u1",
  client_id: "c1",
  scope: "openid",
  jti: "jti-1",
  iat: now,
  exp: now + 600,
}

const both = Effect.gen(function* () {
  const key = yield* Effect.orDie(ProxyKeys.deriveKey(secret, "proxy-token-signing"))
  const jose = yield* ProxyKeys.makeHmac(key)
  const node = yield* ProxyKeys.makeHmacWith(key, NodeProxyKeys.hmacSha256)
  return { key, jose, node }
}).pipe(Effect.provide(settings))

const verdict = (keys: ProxyKeys.ProxyKeysShape, token: string) =>
  Effect.map(Effect.exit(keys.verify(token)), (exit) =>
    Exit.isSuccess(exit)
      ? `ok ${JSON.stringify(exit.value)}`
      : `refused ${JSON.stringify(exit.cause.toJSON())}`,
  )

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")

/** A compact JWS signed with HMAC-SHA-256 whatever the header says (as a forger would). */
const signWith = (
  key: Uint8Array,
  payload: object,
  header: Record<string, unknown> = { alg: "HS256", typ: "at+jwt" },
) =>
  Effect.sync(() => {
    const input = `${b64(header)}.${b64(payload)}`
    return `${input}.${createHmac("sha256", key).update(input).digest("base64url")}`
  })

describe("NodeProxyKeys", () => {
  it.effect("sign - the same bytes as jose", () =>
    Effect.gen(function* () {
      const { jose, node } = yield* both
      assert.strictEqual(yield* node.sign(claims), yield* jose.sign(claims))
    }),
  )

  it.effect("verify - the same verdict as jose on crafted tokens, at several times", () =>
    Effect.gen(function* () {
      const { key, node, jose } = yield* both
      const valid = yield* node.sign(claims)
      const [h, p, s] = valid.split(".") as [string, string, string]
      const other = new Uint8Array(32).fill(7)
      const corpus: Array<string> = [
        valid,
        yield* signWith(key, { ...claims, exp: now - 3 }),
        yield* signWith(key, { ...claims, exp: now - 30 }),
        yield* signWith(key, { ...claims, nbf: now + 4 }),
        yield* signWith(key, { ...claims, nbf: now + 60 }),
        yield* signWith(key, { ...claims, iss: "https://evil.test" }),
        yield* signWith(key, { ...claims, aud: "https://proxy.test/other" }),
        yield* signWith(key, { ...claims, aud: ["https://x.test", "https://proxy.test/mcp"] }),
        yield* signWith(key, { ...claims, jti: undefined }),
        yield* signWith(key, { ...claims, exp: "soon" }),
        yield* signWith(key, { ...claims, iat: "then" }),
        yield* signWith(key, { ...claims, exp: undefined }),
        yield* signWith(key, claims, { alg: "HS256", typ: "rt+jwt" }),
        yield* signWith(key, claims, { alg: "HS256", typ: "AT+JWT" }),
        yield* signWith(key, claims, { alg: "HS256", typ: "application/at+jwt" }),
        yield* signWith(key, claims, { alg: "HS256", typ: "at+jwt", kid: "k" }),
        yield* signWith(key, claims, { alg: "HS256" }),
        yield* signWith(key, claims, { alg: "HS512", typ: "at+jwt" }),
        yield* signWith(other, claims),
        `${b64({ alg: "none" })}.${b64(claims)}.`,
        `${h}.${p}.${s.slice(0, -1)}`,
        `${h}.${p}.${s.slice(0, -2)}A`,
        `${h}.${p}.${s}A`,
        `${h}.${p}.${s.slice(0, -1)}*`,
        `${h}.${p}`,
        `${h}.${p}.${s}.x`,
        // Length ≡ 1 (mod 4): a lenient base64url decoder reads the same header; jose says malformed.
        `${h}A.${p}.${s}`,
        `${h}.${p}A.${s}`,
        `${h}9.${p}.${s}`,
        `${h}.${b64({ ...claims, sub: "evil" })}.${s}`,
        `${b64({ alg: "none", typ: "at+jwt" })}.${p}.${s}`,
        `${h}.${b64([1, 2])}.${s}`,
        "not-a-jwt",
        "a.b.c",
        "",
        "..",
      ]
      for (const t of [now, now + 595, now + 604, now + 606]) {
        yield* TestClock.setTime(t * 1000)
        for (const token of corpus) {
          assert.strictEqual(
            yield* verdict(node, token),
            yield* verdict(jose, token),
            `token ${token} at ${t}`,
          )
        }
      }
    }),
  )

  it.effect("verify - the same verdict as jose on random corruptions of a valid token", () =>
    Effect.gen(function* () {
      const { node, jose } = yield* both
      yield* TestClock.setTime(now * 1000)
      const valid = yield* node.sign(claims)
      const alphabet = "ABCabc019-_.=+/ é"
      const corruptions = fc.sample(
        fc.tuple(fc.nat({ max: valid.length - 1 }), fc.constantFrom(...alphabet), fc.boolean()),
        // The global seed (FC_SEED in CI, vitest.setup.ts) applies: a red run replays.
        { numRuns: 300 },
      )
      for (const [at, char, insert] of corruptions) {
        const token = valid.slice(0, at) + char + valid.slice(insert ? at : at + 1)
        assert.strictEqual(yield* verdict(node, token), yield* verdict(jose, token), token)
      }
    }),
  )
})

/**
 * NodeUpstreamVerifier: the node:crypto path reaches jose's verdict (same claims, same refusal
 * reason and description) for RS256, PS256, ES256 and EdDSA on crafted tokens at several times and
 * on random corruptions (fast-check, global seed); a JWT verified once is remembered.
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto"
import { assert, describe, it } from "@effect/vitest"
import { Jwks, ProxyConfig, UpstreamVerifier } from "@oidc-proxy/core"
import { Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import * as NodeUpstreamVerifier from "../src/NodeUpstreamVerifier.ts"

const now = 1_800_000_000
const issuer = "https://idp.test"
const audience = "client-1"
type Alg = "RS256" | "PS256" | "ES256" | "EdDSA"

const pair = (alg: Alg) =>
  alg === "ES256"
    ? generateKeyPairSync("ec", { namedCurve: "P-256" })
    : alg === "EdDSA"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("rsa", { modulusLength: 2048 })
const algs: ReadonlyArray<Alg> = ["RS256", "PS256", "ES256", "EdDSA"]
const keys = Object.fromEntries(algs.map((alg) => [alg, pair(alg)])) as Record<
  Alg,
  { publicKey: KeyObject; privateKey: KeyObject }
>
const small = generateKeyPairSync("rsa", { modulusLength: 1024 })
const jwks = {
  keys: [
    ...algs.map((alg) => ({ ...keys[alg].publicKey.export({ format: "jwk" }), kid: alg, alg, use: "sig" })),
    { ...small.publicKey.export({ format: "jwk" }), kid: "small", alg: "RS256" },
    // Two keys under one kid: jose refuses (multiple matching keys).
    { ...keys.RS256.publicKey.export({ format: "jwk" }), kid: "twice" },
    { ...keys.PS256.publicKey.export({ format: "jwk" }), kid: "twice" },
  ],
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url")
const signJwt = (
  alg: Alg,
  payload: object,
  header: Record<string, unknown> = { alg, kid: alg },
  key?: KeyObject,
) => {
  const input = `${b64(header)}.${b64(payload)}`
  const privateKey = key ?? keys[alg].privateKey
  const data = Buffer.from(input)
  const signature =
    alg === "ES256"
      ? sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" })
      : alg === "PS256"
        ? sign("sha256", data, { key: privateKey, padding: 6, saltLength: 32 })
        : alg === "EdDSA"
          ? sign(null, data, privateKey)
          : sign("sha256", data, privateKey)
  return `${input}.${signature.toString("base64url")}`
}

const claims = { iss: issuer, aud: audience, sub: "u1", email: "u@x.test", iat: now, exp: now + 600 }

const settings = Layer.effect(
  ProxyConfig.Settings,
  Effect.orDie(
    ProxyConfig.decode({
      issuer: "https://proxy.test",
      resource: "https://proxy.test/mcp",
      clock_tolerance_seconds: 5,
      upstream: { issuer, client_id: audience },
    }),
  ),
)
let jwksReads = 0
const countingJwks = Layer.succeed(
  Jwks.Jwks,
  Jwks.Jwks.of({
    current: Effect.sync(() => {
      jwksReads++
      return jwks
    }),
    refresh: () => Effect.succeed(jwks),
  }),
)
/** Signatures the node:crypto path verified, by algorithm (proof that it is the path taken). */
const fastAccepted = new Map<string, number>()
const counting = (keys: UpstreamVerifier.JwsKeys): UpstreamVerifier.JwsKeys => ({
  decode: keys.decode,
  keyFor: (jwk, alg) => {
    const check = keys.keyFor(jwk, alg)
    return check === undefined
      ? undefined
      : (input, signature) => {
          const ok = check(input, signature)
          if (ok) fastAccepted.set(alg, (fastAccepted.get(alg) ?? 0) + 1)
          return ok
        }
  },
})
const both = Effect.gen(function* () {
  const jose = yield* UpstreamVerifier.makeJwtWith(undefined, { resultCache: false })
  const node = yield* UpstreamVerifier.makeJwtWith(counting(NodeUpstreamVerifier.makeKeys()), {
    resultCache: false,
  })
  const cached = yield* UpstreamVerifier.makeJwtWith(NodeUpstreamVerifier.makeKeys())
  return { jose, node, cached }
}).pipe(Effect.provide(Layer.merge(settings, countingJwks)))

const verdict = (
  v: UpstreamVerifier.UpstreamVerifierShape,
  token: string,
  expect: UpstreamVerifier.Expectation,
) =>
  Effect.map(Effect.exit(v.verify(token, expect)), (exit) =>
    Exit.isSuccess(exit)
      ? `ok ${JSON.stringify(exit.value)}`
      : `refused ${JSON.stringify(exit.cause.toJSON())}`,
  )

const expectations: ReadonlyArray<UpstreamVerifier.Expectation> = [
  { issuer, audience },
  { issuer },
  { issuer, audience, notAfter: now + 600 },
]

/** Crafted tokens: every algorithm, every claim and header variation, malformed shapes. */
const craftedCorpus = (): Array<string> => {
  const corpus: Array<string> = []
  for (const alg of algs) {
    const valid = signJwt(alg, claims)
    const [h, p, s] = valid.split(".") as [string, string, string]
    corpus.push(
      valid,
      signJwt(alg, { ...claims, exp: now - 3 }),
      signJwt(alg, { ...claims, exp: now - 30 }),
      signJwt(alg, { ...claims, exp: undefined }),
      signJwt(alg, { ...claims, exp: "soon" }),
      signJwt(alg, { ...claims, nbf: now + 4 }),
      signJwt(alg, { ...claims, nbf: now + 60 }),
      signJwt(alg, { ...claims, iat: "then" }),
      signJwt(alg, { ...claims, iss: "https://evil.test" }),
      signJwt(alg, { ...claims, iss: undefined }),
      signJwt(alg, { ...claims, aud: "other" }),
      signJwt(alg, { ...claims, aud: ["x", audience] }),
      signJwt(alg, { ...claims, aud: undefined }),
      signJwt(alg, { ...claims, sub: 42 }),
      signJwt(alg, claims, { alg, kid: alg, typ: "JWT" }),
      signJwt(alg, claims, { alg }),
      signJwt(alg, claims, { alg, kid: "unknown" }),
      signJwt(alg, claims, { alg, kid: "twice" }),
      signJwt(alg, claims, { alg, kid: alg, crit: ["exp"] }),
      signJwt(alg, claims, { alg, kid: alg, b64: false }),
      signJwt(alg, claims, { alg, kid: alg, jku: "https://evil.test/jwks" }),
      signJwt(alg, claims, { alg: alg === "RS256" ? "PS256" : "RS256", kid: alg }),
      signJwt(alg, [1, 2] as never),
      `${h}.${p}.${s.slice(0, -1)}`,
      `${h}.${p}.${s}A`,
      `${h}.${p}.${s.slice(0, -2)}AA`,
      `${h}A.${p}.${s}`,
      `${h}.${p}A.${s}`,
      `${h}.${b64({ ...claims, sub: "evil" })}.${s}`,
      `${b64({ alg: "none" })}.${p}.`,
      `${h}.${p}`,
    )
  }
  corpus.push(signJwt("RS256", claims, { alg: "RS256", kid: "small" }, small.privateKey), "a.b.c", "", "..")
  return corpus
}

describe("NodeUpstreamVerifier", () => {
  it.effect("verify - the same verdict as jose on crafted tokens, at several times", () =>
    Effect.gen(function* () {
      const { jose, node } = yield* both
      const corpus = craftedCorpus()
      for (const t of [now, now + 595, now + 604, now + 606]) {
        yield* TestClock.setTime(t * 1000)
        for (const expect of expectations)
          for (const token of corpus) {
            assert.strictEqual(
              yield* verdict(node, token, expect),
              yield* verdict(jose, token, expect),
              token,
            )
          }
      }
      for (const alg of algs) assert.isAbove(fastAccepted.get(alg) ?? 0, 10, alg)
    }),
  )

  it.effect("verifySync - every answer it gives is the one verify gives, on crafted tokens and times", () =>
    Effect.gen(function* () {
      const verifiers = yield* Effect.all([
        UpstreamVerifier.makeJwtWith(NodeUpstreamVerifier.makeKeys(), { resultCache: false }),
        UpstreamVerifier.makeJwtWith(NodeUpstreamVerifier.makeKeys()),
      ]).pipe(Effect.provide(Layer.merge(settings, Jwks.layerStatic(jwks))))
      const corpus = craftedCorpus()
      let answered = 0
      for (const t of [now, now + 595, now + 604, now + 606]) {
        yield* TestClock.setTime(t * 1000)
        for (const v of verifiers)
          for (const expect of expectations)
            for (const token of corpus) {
              const general = yield* verdict(v, token, expect)
              const quick = v.verifySync?.(token, expect, t * 1000)
              if (quick === undefined) continue
              answered++
              assert.strictEqual(`ok ${JSON.stringify(quick)}`, general, token)
            }
      }
      assert.isAbove(answered, 50)
    }),
  )

  it.effect("verify - the same verdict as jose on random corruptions", () =>
    Effect.gen(function* () {
      const { jose, node } = yield* both
      yield* TestClock.setTime(now * 1000)
      const valid = Object.fromEntries(algs.map((alg) => [alg, signJwt(alg, claims)])) as Record<Alg, string>
      const alphabet = [..."ABCabc019-_.=+/ é"]
      // fc.sample takes the global seed (FC_SEED in CI, vitest.setup.ts): a red run replays.
      const cases = fc.sample(
        fc.tuple(fc.constantFrom(...algs), fc.nat(), fc.constantFrom(...alphabet), fc.boolean()),
        { numRuns: 300 },
      )
      for (const [alg, at, char, insert] of cases) {
        const token = valid[alg]
        const i = at % token.length
        const corrupted = token.slice(0, i) + char + token.slice(insert ? i : i + 1)
        const expect = { issuer, audience }
        assert.strictEqual(
          yield* verdict(node, corrupted, expect),
          yield* verdict(jose, corrupted, expect),
          corrupted,
        )
      }
    }),
  )

  it.effect("verify - a JWT verified once is remembered; expiry is re-checked on every hit", () =>
    Effect.gen(function* () {
      const { cached } = yield* both
      yield* TestClock.setTime(now * 1000)
      const token = signJwt("ES256", claims)
      const before = jwksReads
      for (let i = 0; i < 5; i++) yield* cached.verify(token, { issuer, audience })
      assert.strictEqual(jwksReads - before, 1)
      yield* TestClock.setTime((now + 606) * 1000)
      const late = yield* Effect.exit(cached.verify(token, { issuer, audience }))
      assert.isTrue(Exit.isFailure(late))
    }),
  )
})

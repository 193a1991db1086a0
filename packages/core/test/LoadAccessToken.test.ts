import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { SignJWT, UnsecuredJWT } from "jose"
import * as BearerDecision from "../src/BearerDecision.ts"
import { issueAccessToken } from "../src/IssueAccessToken.ts"
import * as LoadAccessToken from "../src/LoadAccessToken.ts"
import { StoreError } from "../src/OAuthError.ts"
import { ProxyKeys } from "../src/ProxyKeys.ts"
import * as Store from "../src/Store.ts"
import { TokenStore } from "../src/TokenStore.ts"
import { TestProxy, TestUpstream } from "../src/testing/index.ts"
import { nodeHmacSha256 } from "./support/nodeHmac.ts"

/** Both HS256 implementations run the whole suite: jose/WebCrypto and the synchronous HMAC. */
const implementations = [
  { name: "jose", keys: () => TestProxy.keysLayer() },
  { name: "sync HMAC (node:crypto)", keys: () => TestProxy.keysLayer(nodeHmacSha256) },
] as const

for (const implementation of implementations) {
  const start = 1_800_000_000

  interface Fixture {
    readonly upstream: TestUpstream.TestUpstream
    readonly proxyToken: string
  }

  /** A stored session: upstream token set `ts` and a proxy token for it, id_token mode by default. */
  const withSession = <A, E>(
    body: (f: Fixture) => Effect.Effect<A, E, LoadAccessToken.Requirements>,
    options: {
      readonly idToken?: boolean
      readonly mode?: "id_token" | "access_token"
      readonly store?: Layer.Layer<Store.Store>
      /** The upstream token's `sub` (the proxy token is issued for `u1`). */
      readonly upstreamSub?: string
    } = {},
  ) =>
    Effect.gen(function* () {
      yield* TestClock.setTime(start * 1000)
      const upstream = yield* TestUpstream.make()
      const idToken = yield* upstream.sign(
        { sub: options.upstreamSub ?? "u1", aud: upstream.clientId, exp: start + 3600 },
        { now: start },
      )
      const config = TestProxy.config(upstream, {
        verification_mode: options.mode ?? "id_token",
        clock_tolerance_seconds: 5,
      })
      return yield* Effect.gen(function* () {
        const store = yield* TokenStore
        yield* store.upstreamTokenSets.set(
          "ts",
          {
            id: "ts",
            access_token: "opaque-upstream-access-token",
            ...(options.idToken === false ? {} : { id_token: idToken }),
            token_type: "Bearer",
            scope: ["openid"],
            expires_at: start + 3600,
            raw: {},
          },
          "2 hours",
        )
        const issued = yield* issueAccessToken({
          upstream_token_set_id: "ts",
          client_id: "c1",
          subject: "u1",
          scopes: ["openid"],
          lifetime: 3600,
        })
        return yield* body({ upstream, proxyToken: issued.access_token })
      }).pipe(Effect.provide(TestProxy.layer(upstream, config, options.store, implementation.keys())))
    })

  /** The 401 description of a refused bearer, or a marker when it was not refused. */
  const refusal = (bearer: string) =>
    LoadAccessToken.check(bearer).pipe(
      Effect.map((d) => (d._tag === "Deny" ? `${d.status} ${d.error} ${d.description}` : "allowed")),
    )

  const resign = (
    token: string,
    mutate: (payload: Record<string, unknown>) => Record<string, unknown>,
    key: Uint8Array | CryptoKey,
    alg = "HS256",
  ) => {
    const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString())
    return Effect.promise(() =>
      new SignJWT(mutate(payload)).setProtectedHeader({ alg, typ: "at+jwt" }).sign(key),
    )
  }

  describe(`LoadAccessToken (${implementation.name})`, () => {
    it.effect("check - a valid token is allowed", () =>
      withSession(({ proxyToken }) =>
        Effect.map(LoadAccessToken.check(proxyToken), (d) => assert.strictEqual(d._tag, "Allow")),
      ),
    )

    it.effect("check - an upstream token naming another subject than the sign-in's is 401", () =>
      withSession(
        ({ proxyToken }) =>
          Effect.map(refusal(proxyToken), (answer) =>
            assert.strictEqual(
              answer,
              "401 invalid_token The upstream session now belongs to another subject",
            ),
          ),
        { upstreamSub: "u2" },
      ),
    )

    it.effect("check - no bearer is 401 without an error code", () =>
      withSession(() =>
        Effect.map(LoadAccessToken.check(undefined), (d) => {
          assert.strictEqual(d._tag, "Deny")
          if (d._tag === "Deny") {
            assert.strictEqual(d.status, 401)
            assert.isUndefined(d.error)
          }
        }),
      ),
    )

    it.effect("malformed JWT - 401 invalid_token", () =>
      withSession(() =>
        Effect.gen(function* () {
          assert.strictEqual(
            yield* refusal("not-a-jwt"),
            "401 invalid_token The access token is not a well-formed JWT",
          )
          assert.strictEqual(
            yield* refusal("a.b.c"),
            "401 invalid_token The access token is not a well-formed JWT",
          )
        }),
      ),
    )

    it.effect("alg none - 401 invalid_token naming the algorithm", () =>
      withSession(({ proxyToken }) =>
        Effect.gen(function* () {
          const payload = JSON.parse(Buffer.from(proxyToken.split(".")[1]!, "base64url").toString())
          const unsecured = new UnsecuredJWT(payload).encode()
          assert.strictEqual(
            yield* refusal(unsecured),
            "401 invalid_token The access token is signed with an algorithm that is not allowed",
          )
        }),
      ),
    )

    it.effect("HS256 signed with the upstream RSA public key - 401 signature or algorithm", () =>
      withSession(({ proxyToken, upstream }) =>
        Effect.gen(function* () {
          const spki = yield* Effect.promise(() => crypto.subtle.exportKey("spki", upstream.publicKey))
          const forged = yield* resign(proxyToken, (p) => p, new Uint8Array(spki))
          assert.strictEqual(
            yield* refusal(forged),
            "401 invalid_token The access token signature does not verify",
          )
          const rsSigned = yield* resign(proxyToken, (p) => p, upstream.privateKey, "RS256")
          assert.strictEqual(
            yield* refusal(rsSigned),
            "401 invalid_token The access token is signed with an algorithm that is not allowed",
          )
        }),
      ),
    )

    it.effect("wrong iss, wrong aud - 401 naming the claim", () =>
      withSession(({ proxyToken }) =>
        Effect.gen(function* () {
          const keys = yield* ProxyKeys
          const claims = yield* keys.verify(proxyToken)
          const wrongIss = yield* keys.sign({ ...claims, iss: "https://evil.test" })
          const wrongAud = yield* keys.sign({ ...claims, aud: "https://proxy.test/other" })
          assert.strictEqual(
            yield* refusal(wrongIss),
            "401 invalid_token The access token has an unexpected issuer (iss)",
          )
          assert.strictEqual(
            yield* refusal(wrongAud),
            "401 invalid_token The access token has an unexpected audience (aud)",
          )
        }),
      ),
    )

    it.effect("expired and not yet valid - 401 with the leeway honoured", () =>
      withSession(({ proxyToken }) =>
        Effect.gen(function* () {
          const keys = yield* ProxyKeys
          const claims = yield* keys.verify(proxyToken)
          const future = yield* keys.sign({ ...claims, nbf: start + 60 })
          assert.strictEqual(
            yield* refusal(future),
            "401 invalid_token The access token is not yet valid (nbf)",
          )
          const slightlyFuture = yield* keys.sign({ ...claims, nbf: start + 4 })
          assert.strictEqual(yield* refusal(slightlyFuture), "allowed")
          yield* TestClock.adjust("3604 seconds")
          assert.strictEqual(yield* refusal(proxyToken), "allowed")
          yield* TestClock.adjust("2 seconds")
          assert.strictEqual(yield* refusal(proxyToken), "401 invalid_token The access token expired")
        }),
      ),
    )

    it.effect("a token that is not an access token (refresh typ) - 401", () =>
      withSession(({ proxyToken }) =>
        Effect.gen(function* () {
          const key = yield* Effect.promise(() =>
            import("../src/ProxyKeys.ts").then((m) =>
              Effect.runPromise(m.deriveKey(TestProxy.testSecret, "proxy-token-signing")),
            ),
          )
          const payload = JSON.parse(Buffer.from(proxyToken.split(".")[1]!, "base64url").toString())
          const refresh = yield* Effect.promise(() =>
            new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "rt+jwt" }).sign(key),
          )
          assert.strictEqual(
            yield* refusal(refresh),
            "401 invalid_token The access token is not an access token (typ)",
          )
        }),
      ),
    )

    it.effect("unknown kid on the upstream id_token - 401 from the upstream", () =>
      withSession(({ upstream, proxyToken }) =>
        Effect.gen(function* () {
          const store = yield* TokenStore
          const foreign = yield* upstream.sign(
            { sub: "u1", aud: upstream.clientId, exp: start + 3600 },
            { kid: "rotated-away", now: start },
          )
          const set = Option.getOrThrow(yield* store.upstreamTokenSets.get("ts"))
          yield* store.upstreamTokenSets.set("ts", { ...set, id_token: foreign }, "1 hour")
          assert.strictEqual(
            yield* refusal(proxyToken),
            "401 invalid_token The upstream token is signed with an unknown key (kid)",
          )
        }),
      ),
    )

    it.effect("upstream id_token for another client or issuer - 401 naming the claim", () =>
      withSession(({ upstream, proxyToken }) =>
        Effect.gen(function* () {
          const store = yield* TokenStore
          const set = Option.getOrThrow(yield* store.upstreamTokenSets.get("ts"))
          const otherAud = yield* upstream.sign(
            { sub: "u1", aud: "someone-else", exp: start + 3600 },
            { now: start },
          )
          yield* store.upstreamTokenSets.set("ts", { ...set, id_token: otherAud }, "1 hour")
          assert.strictEqual(
            yield* refusal(proxyToken),
            "401 invalid_token The upstream token has an unexpected audience (aud)",
          )
          const otherIss = yield* upstream.sign(
            { iss: "https://evil.test", sub: "u1", aud: upstream.clientId, exp: start + 3600 },
            { now: start },
          )
          yield* store.upstreamTokenSets.set("ts", { ...set, id_token: otherIss }, "1 hour")
          assert.strictEqual(
            yield* refusal(proxyToken),
            "401 invalid_token The upstream token has an unexpected issuer (iss)",
          )
        }),
      ),
    )

    it.effect("missing jti mapping - 401 unknown or revoked", () =>
      withSession(({ proxyToken }) =>
        Effect.gen(function* () {
          const keys = yield* ProxyKeys
          const claims = yield* keys.verify(proxyToken)
          yield* (yield* TokenStore).jtiMappings.delete(claims.jti)
          assert.strictEqual(
            yield* refusal(proxyToken),
            "401 invalid_token The access token is unknown or was revoked",
          )
        }),
      ),
    )

    it.effect("missing id_token in id_token mode - 401", () =>
      withSession(
        ({ proxyToken }) =>
          Effect.map(refusal(proxyToken), (r) =>
            assert.strictEqual(r, "401 invalid_token The upstream token set has no id_token to verify"),
          ),
        { idToken: false },
      ),
    )

    it.effect("store failure - a StoreError, never a 401 or a defect", () =>
      withSession(
        ({ proxyToken }) =>
          Effect.gen(function* () {
            const result = yield* Effect.result(LoadAccessToken.check(proxyToken))
            assert.strictEqual(result._tag, "Failure")
            if (result._tag === "Failure") assert.strictEqual(result.failure._tag, "StoreError")
          }),
        {
          store: Store.layerTest((memory) => ({
            get: (key) =>
              key.startsWith("upstream:")
                ? Effect.fail(new StoreError({ operation: "get", description: "connection lost" }))
                : memory.get(key),
          })),
        },
      ),
    )

    it("denyFromError - one InvalidToken maps to one 401 challenge", () => {
      const deny = BearerDecision.unauthenticated([])
      assert.strictEqual(BearerDecision.formatChallenge(deny.challenge), "Bearer")
    })
  })
}

/**
 * The `isDecoded` checks of `VerifiedClaims` and `ProxyTokenClaims` (payloads used as is, without
 * the Schema decode) against their Schemas, the single source of truth: whenever a check says
 * yes, the Schema decodes the value to an equal value. And the recorded-scope shortcut of
 * `resolveScopes`: the same scopes as `Scopes.normalize`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option, Schema } from "effect"
import * as fc from "fast-check"
import { resolveScopes } from "../src/AccessToken.ts"
import * as JtiMapping from "../src/JtiMapping.ts"
import * as ProxyTokenClaims from "../src/ProxyTokenClaims.ts"
import * as Scopes from "../src/Scopes.ts"
import { Arbitraries } from "../src/testing/index.ts"
import * as VerifiedClaims from "../src/VerifiedClaims.ts"

const agreesWith =
  <A>(schema: Schema.Codec<A, unknown>, isDecoded: (value: unknown) => boolean) =>
  (value: unknown): boolean => {
    if (!isDecoded(value)) return false
    const decoded = Schema.decodeUnknownOption(schema)(value)
    assert.isTrue(Option.isSome(decoded), JSON.stringify(value))
    assert.deepStrictEqual(Option.getOrThrow(decoded), value)
    return true
  }

const verifiedAgrees = agreesWith(
  VerifiedClaims.VerifiedClaims as Schema.Codec<VerifiedClaims.VerifiedClaims, unknown>,
  VerifiedClaims.isDecoded,
)
const proxyAgrees = agreesWith(
  ProxyTokenClaims.ProxyTokenClaims as Schema.Codec<ProxyTokenClaims.ProxyTokenClaims, unknown>,
  ProxyTokenClaims.isDecoded,
)

const odd = fc.constantFrom("", 0, -1, 1.5, null, true, [], {}, ["a", 1], ["", "b"], "x y")
const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), odd)

const proxyClaims = fc.record(
  {
    iss: fc.string({ minLength: 1 }),
    aud: fc.oneof(fc.string({ minLength: 1 }), fc.array(fc.string({ minLength: 1 }), { maxLength: 3 })),
    sub: fc.string({ minLength: 1 }),
    client_id: fc.string({ minLength: 1 }),
    scope: fc.string(),
    jti: fc.string({ minLength: 1 }),
    exp: fc.integer(),
    iat: fc.integer(),
    nbf: fc.integer(),
  },
  { requiredKeys: ["iss", "aud", "sub", "client_id", "jti", "exp", "iat"] },
)

/** JSON text parsed again (what a verifier hands over), with up to three members changed. */
const altered = <A extends object>(base: fc.Arbitrary<A>, keys: ReadonlyArray<string>) =>
  fc
    .tuple(
      base,
      fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...keys, "__proto__", "extra")),
          fc.option(value, { nil: undefined }),
        ),
        { maxLength: 3 },
      ),
    )
    .map(([claims, changes]) => {
      const out = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>
      for (const [key, v] of changes) {
        if (v === undefined) delete out[key]
        else
          Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true })
      }
      return out
    })

describe("DecodedSchemas", () => {
  it("ProxyTokenClaims.isDecoded - the claims the proxy signs are recognised; yes implies the Schema agrees", () => {
    fc.assert(
      fc.property(proxyClaims, (claims) => {
        assert.isTrue(proxyAgrees(JSON.parse(JSON.stringify(claims))))
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(
        altered(proxyClaims, ["iss", "aud", "sub", "client_id", "scope", "jti", "exp", "iat", "nbf"]),
        (claims) => void proxyAgrees(claims),
      ),
      { numRuns: 1000 },
    )
  })

  it("VerifiedClaims.isDecoded - upstream payloads are recognised; yes implies the Schema agrees", () => {
    fc.assert(
      fc.property(Arbitraries.verifiedClaims, (claims) => {
        assert.isTrue(verifiedAgrees(JSON.parse(JSON.stringify(claims))))
      }),
      { numRuns: 300 },
    )
    fc.assert(
      fc.property(
        altered(Arbitraries.verifiedClaims, [
          "iss",
          "sub",
          "aud",
          "exp",
          "iat",
          "nbf",
          "scope",
          "scp",
          "email",
        ]),
        (claims) => void verifiedAgrees(claims),
      ),
      { numRuns: 1000 },
    )
    fc.assert(
      fc.property(fc.jsonValue(), (v) => void verifiedAgrees(v)),
      { numRuns: 300 },
    )
    assert.isFalse(VerifiedClaims.isDecoded(JSON.parse('{"iss": "x", "__proto__": {"sub": 1}}')))
  })

  it("JtiMapping.isDecoded - stored mappings are recognised; yes implies the Schema agrees", () => {
    const mappingAgrees = agreesWith(
      JtiMapping.JtiMapping as Schema.Codec<JtiMapping.JtiMapping, unknown>,
      JtiMapping.isDecoded,
    )
    const mapping = fc.record({
      jti: fc.string({ minLength: 1 }),
      upstream_token_set_id: fc.string({ minLength: 1 }),
      client_id: fc.string({ minLength: 1 }),
      expires_at: fc.integer(),
    })
    fc.assert(
      fc.property(mapping, (m) => {
        assert.isTrue(mappingAgrees(JSON.parse(JSON.stringify(m))))
      }),
      { numRuns: 200 },
    )
    fc.assert(
      fc.property(
        altered(mapping, ["jti", "upstream_token_set_id", "client_id", "expires_at"]),
        (m) => void mappingAgrees(m),
      ),
      { numRuns: 500 },
    )
  })

  it("resolveScopes - in id_token mode, the recorded scopes as Scopes.normalize gives them", () => {
    fc.assert(
      fc.property(
        Arbitraries.upstreamTokenSet(),
        Arbitraries.verifiedClaims,
        fc.boolean(),
        (set, claims, tidy) => {
          const upstream = tidy ? { ...set, scope: Scopes.normalize(set.scope) } : set
          assert.deepStrictEqual(
            resolveScopes("id_token", upstream, claims),
            Scopes.normalize(upstream.scope),
          )
        },
      ),
      { numRuns: 500 },
    )
  })
})

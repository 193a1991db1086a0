import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { resolveAccessToken } from "../src/AccessToken.ts"
import * as Scopes from "../src/Scopes.ts"
import { Arbitraries } from "../src/testing/index.ts"
import * as UpstreamTokenSet from "../src/UpstreamTokenSet.ts"

const proxyToken = {
  token: "proxy.jwt.value",
  claims: {
    iss: "https://proxy.test",
    aud: "https://proxy.test/mcp",
    sub: "proxy-sub",
    client_id: "client-1",
    jti: "jti-1",
    iat: 1_800_000_000,
    exp: 1_800_000_600,
  },
}

describe("Scopes", () => {
  it("parse - whitespace, duplicates and order never change the set", () => {
    const permuted = Arbitraries.scopeList.chain((list) =>
      fc.tuple(fc.constant(list), fc.shuffledSubarray([...list, ...list], { minLength: list.length * 2 })),
    )
    fc.assert(
      fc.property(permuted, ([list, shuffled]) => {
        expect(Scopes.normalize(shuffled)).toEqual(Scopes.normalize(list))
      }),
    )
    fc.assert(
      fc.property(
        Arbitraries.scopeList.chain((list) => fc.tuple(fc.constant(list), Arbitraries.scopeStringOf(list))),
        ([list, rendered]) => {
          expect(Scopes.parse(rendered)).toEqual([...new Set(list)].sort())
        },
      ),
    )
  })

  it("parse - the result is sorted, unique and has no empty token", () => {
    fc.assert(
      fc.property(Arbitraries.scopeString, (s) => {
        const set = Scopes.parse(s)
        expect(new Set(set).size).toBe(set.length)
        expect([...set].sort()).toEqual(set)
        expect(set.every((t) => t.length > 0 && !/\s/.test(t))).toBe(true)
      }),
    )
  })

  it("fromClaims - reads scope as a string and scp as a string or an array", () => {
    expect(Scopes.fromClaims({ scope: " read  write read " })).toEqual(["read", "write"])
    expect(Scopes.fromClaims({ scp: "b a" })).toEqual(["a", "b"])
    expect(Scopes.fromClaims({ scp: ["x", " y ", "x", 3] })).toEqual(["x", "y"])
    expect(Scopes.fromClaims({ scope: "a", scp: ["b"] })).toEqual(["a", "b"])
    expect(Scopes.fromClaims({ scope: 42, scp: { a: 1 } })).toEqual([])
    expect(Scopes.fromClaims({})).toEqual([])
  })

  it("fromClaims, fromTokenResponse - an upstream's words that are not scope tokens name no scope", () => {
    // Control characters, DEL, `"`, `\\` and non-ASCII letters: RFC 6749 §3.3 allows none of them, and
    // the scopes are listed in an identity header the HTTP client would refuse (every request 502).
    const hostile = 'openid a\u0000b c\u0100d e\u007ff "q" back\\slash \u00e9t\u00e9 read'
    expect(Scopes.fromClaims({ scope: hostile })).toEqual(["openid", "read"])
    expect(Scopes.fromClaims({ scp: ["x\u0001", "y"] })).toEqual(["y"])
    const set = UpstreamTokenSet.fromTokenResponse(
      "s",
      { access_token: "at", token_type: "Bearer", scope: hostile, raw: {} },
      0,
      ["openid"],
    )
    expect(set.scope).toEqual(["openid", "read"])
    // A set recorded before (stored with such words) is read the same way.
    const token = resolveAccessToken(
      "id_token",
      { ...set, scope: ["z", "a\u0000"] },
      { iss: "i" },
      proxyToken,
    )
    expect(token.scopes).toEqual(["z"])
  })

  it("isSubset - holds exactly when every required scope is granted", () => {
    fc.assert(
      fc.property(Arbitraries.scopeList, Arbitraries.scopeList, (required, granted) => {
        const r = Scopes.normalize(required)
        const g = Scopes.normalize(granted)
        expect(Scopes.isSubset(r, g)).toBe(r.every((s) => g.includes(s)))
        expect(Scopes.isSubset(r, Scopes.union(r, g))).toBe(true)
        expect(Scopes.difference(r, g).length === 0).toBe(Scopes.isSubset(r, g))
      }),
    )
  })
})

import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { resolveAccessToken } from "../src/AccessToken.ts"
import type { ProxyTokenClaims } from "../src/ProxyTokenClaims.ts"
import * as Scopes from "../src/Scopes.ts"
import { Arbitraries } from "../src/testing/index.ts"

const proxy = (claims: Partial<ProxyTokenClaims> = {}) => ({
  token: "proxy.jwt.value",
  claims: {
    iss: "https://proxy.test",
    aud: "https://proxy.test/mcp",
    sub: "proxy-sub",
    client_id: "client-1",
    jti: "jti-1",
    iat: 1_800_000_000,
    exp: 1_800_003_600,
    ...claims,
  },
})

describe("AccessToken.resolveAccessToken", () => {
  it("id_token mode - scopes are the recorded set for any tokens, identical ones included", () => {
    fc.assert(
      fc.property(
        fc.oneof(Arbitraries.upstreamTokenSet(), Arbitraries.upstreamTokenSet({ sameToken: true })),
        Arbitraries.verifiedClaims,
        (upstream, claims) => {
          const token = resolveAccessToken("id_token", upstream, claims, proxy())
          expect(token.scopes).toEqual(Scopes.normalize(upstream.scope))
        },
      ),
    )
  })

  it("id_token mode - the same JWT as access and id token keeps every recorded scope", () => {
    fc.assert(
      fc.property(Arbitraries.upstreamTokenSet({ sameToken: true }), (upstream) => {
        expect(upstream.id_token).toBe(upstream.access_token)
        const token = resolveAccessToken("id_token", upstream, { iss: "https://idp.test", sub: "u" }, proxy())
        expect(token.scopes).toEqual(Scopes.normalize(upstream.scope))
      }),
    )
  })

  it("access_token mode - scopes come from the verified claims, not the recorded set", () => {
    fc.assert(
      fc.property(Arbitraries.upstreamTokenSet(), Arbitraries.verifiedClaims, (upstream, claims) => {
        const token = resolveAccessToken("access_token", upstream, claims, proxy())
        expect(token.scopes).toEqual(Scopes.fromClaims(claims))
      }),
    )
  })

  it("carries the client, the upstream subject, the proxy expiry and the resource", () => {
    fc.assert(
      fc.property(
        Arbitraries.verificationMode,
        Arbitraries.upstreamTokenSet(),
        Arbitraries.verifiedClaims,
        (mode, upstream, claims) => {
          const token = resolveAccessToken(mode, upstream, claims, proxy())
          expect(token.client_id).toBe("client-1")
          expect(token.subject).toBe(claims.sub !== undefined && claims.sub !== "" ? claims.sub : "proxy-sub")
          expect(token.expires_at).toBe(1_800_003_600)
          expect(token.resource).toBe("https://proxy.test/mcp")
          expect(token.token).toBe("proxy.jwt.value")
        },
      ),
    )
  })
})

/**
 * The id_token identity fallback: what it may add to an access token's claims (email, name,
 * preferred_username, for the same issuer and subject, only where the access token is silent) and
 * what it never touches — above all the scopes, whatever the id_token says, including an id_token
 * identical to the access token (FastMCP #3461).
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as fc from "fast-check"
import { resolveAccessToken, resolveScopes } from "../src/AccessToken.ts"
import * as IdentityClaims from "../src/IdentityClaims.ts"
import * as McpPolicy from "../src/McpPolicy.ts"
import * as Scopes from "../src/Scopes.ts"
import { Arbitraries } from "../src/testing/index.ts"
import type { UpstreamTokenSet } from "../src/UpstreamTokenSet.ts"
import type { VerifiedClaims } from "../src/VerifiedClaims.ts"

const proxy = {
  token: "proxy.jwt.value",
  claims: {
    iss: "https://proxy.test",
    aud: "https://proxy.test/mcp",
    sub: "proxy-sub",
    client_id: "client-1",
    jti: "jti-1",
    iat: 1_800_000_000,
    exp: 1_800_003_600,
  },
}

const iss = "https://idp.example"
const allowed: ReadonlySet<string> = new Set(IdentityClaims.allowList)

/** Any JSON-ish claim value, including the shapes scopes and audiences take. */
const claimValue = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.boolean(),
  fc.integer(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }),
  Arbitraries.scopeString,
)

/**
 * An id_token payload with any content: the allow-listed members, the ones scopes, audience and
 * expiry are read from, and arbitrary others; `iss` and `sub` usually those of the access token.
 */
const idTokenPayload = (claims: VerifiedClaims) =>
  fc
    .record(
      {
        iss: fc.oneof(fc.constant(claims.iss), fc.constant("https://other.example")),
        sub: fc.oneof(fc.constant(claims.sub ?? "u"), fc.string({ maxLength: 8 })),
        email: fc.oneof(fc.emailAddress(), claimValue),
        email_verified: fc.oneof(fc.boolean(), fc.constant("true"), claimValue),
        name: claimValue,
        preferred_username: claimValue,
        scope: Arbitraries.scopeString,
        scp: fc.oneof(Arbitraries.scopeString, Arbitraries.scopeList),
        aud: claimValue,
        exp: fc.integer(),
        client_id: claimValue,
        azp: claimValue,
        groups: claimValue,
        roles: claimValue,
      },
      { requiredKeys: [] },
    )
    .chain((known) =>
      fc
        .dictionary(fc.string({ maxLength: 10 }), claimValue, { maxKeys: 4 })
        .map((extra) => ({ ...extra, ...known })),
    )

/** Access-token claims, with or without identity members of their own. */
const accessClaims: fc.Arbitrary<VerifiedClaims> = fc
  .tuple(
    Arbitraries.verifiedClaims,
    fc.record(
      { email: claimValue, email_verified: claimValue, name: claimValue, preferred_username: claimValue },
      { requiredKeys: [] },
    ),
  )
  .map(([claims, identity]) => ({ ...claims, ...identity }))

const withIdentity = (upstream: UpstreamTokenSet, identity: IdentityClaims.IdentityClaims | undefined) => {
  const { identity: _, ...rest } = upstream
  return identity === undefined ? rest : { ...rest, identity }
}

describe("IdentityClaims", () => {
  it("resolveAccessToken - the scopes never depend on the id_token, in any mode, under any id_token content", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("access_token", "id_token", "reported_or_recorded" as const),
        fc.oneof(Arbitraries.upstreamTokenSet(), Arbitraries.upstreamTokenSet({ sameToken: true })),
        accessClaims.chain((claims) => fc.tuple(fc.constant(claims), idTokenPayload(claims))),
        (mode, upstream, [claims, payload]) => {
          const identity = IdentityClaims.fromIdToken(payload)
          const without = resolveAccessToken(mode, withIdentity(upstream, undefined), claims, proxy)
          const withId = resolveAccessToken(mode, withIdentity(upstream, identity), claims, proxy)
          assert.deepStrictEqual(withId.scopes, without.scopes)
          assert.deepStrictEqual(withId.scopes, resolveScopes(mode, upstream, claims))
          // Nor do they change when read again from the claims the AccessToken carries.
          if (mode === "access_token")
            assert.deepStrictEqual(Scopes.fromClaims(withId.claims), without.scopes)
          assert.strictEqual(withId.subject, without.subject)
          assert.strictEqual(withId.client_id, without.client_id)
          assert.strictEqual(withId.expires_at, without.expires_at)
          assert.strictEqual(withId.resource, without.resource)
        },
      ),
      { numRuns: 300 },
    )
  })

  it("resolveAccessToken - an id_token identical to the access token (FastMCP #3461) changes nothing", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("access_token", "id_token" as const),
        Arbitraries.upstreamTokenSet({ sameToken: true }),
        accessClaims,
        (mode, upstream, claims) => {
          const identity = IdentityClaims.fromIdToken(claims)
          const token = resolveAccessToken(mode, withIdentity(upstream, identity), claims, proxy)
          assert.deepStrictEqual(token.scopes, resolveScopes(mode, upstream, claims))
          assert.deepStrictEqual(token.claims, claims)
        },
      ),
    )
  })

  it("withFallback - another subject or issuer takes none of the fallback", () => {
    fc.assert(
      fc.property(
        accessClaims.chain((claims) => fc.tuple(fc.constant(claims), idTokenPayload(claims))),
        ([claims, payload]) => {
          const identity = IdentityClaims.fromIdToken(payload)
          fc.pre(identity !== undefined && (identity.sub !== claims.sub || identity.iss !== claims.iss))
          assert.strictEqual(IdentityClaims.withFallback(claims, identity), claims)
        },
      ),
      { numRuns: 300 },
    )
    const identity = { iss, sub: "ada", email: "ada@example.com", email_verified: true }
    assert.isUndefined(IdentityClaims.withFallback({ iss, sub: "eve" }, identity)["email"])
    assert.isUndefined(
      IdentityClaims.withFallback({ iss: "https://evil.example", sub: "ada" }, identity)["email"],
    )
    assert.isUndefined(IdentityClaims.withFallback({ iss }, identity)["email"])
  })

  it("withFallback - the access token's own values win; only the allow-list is ever added", () => {
    fc.assert(
      fc.property(
        accessClaims.chain((claims) => fc.tuple(fc.constant(claims), idTokenPayload(claims))),
        ([claims, payload]) => {
          const merged = IdentityClaims.withFallback(claims, IdentityClaims.fromIdToken(payload))
          for (const key of Object.keys(claims)) assert.deepStrictEqual(merged[key], claims[key], key)
          for (const key of Object.keys(merged))
            if (!(key in claims) || claims[key] === undefined) assert.isTrue(allowed.has(key), key)
          // The pair: an access token with an email or email_verified of its own keeps both as they are.
          if (claims["email"] !== undefined || claims["email_verified"] !== undefined) {
            assert.strictEqual(merged["email"], claims["email"])
            assert.strictEqual(merged["email_verified"], claims["email_verified"])
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it("withFallback - an identity with members beyond the allow-list adds none of them", () => {
    const tampered = {
      iss,
      sub: "ada",
      email: "ada@example.com",
      scope: "admin",
      scp: ["admin"],
      aud: "other",
      groups: ["admins"],
    } as unknown as IdentityClaims.IdentityClaims
    const merged = IdentityClaims.withFallback({ iss, sub: "ada", scope: "read" }, tampered)
    assert.deepStrictEqual(merged, { iss, sub: "ada", scope: "read", email: "ada@example.com" })
  })

  it("fromIdToken - keeps iss, sub and the allow-listed members only; bounded; decodes to itself", () => {
    const kept = IdentityClaims.fromIdToken({
      iss,
      sub: "ada",
      aud: "proxy-client",
      exp: 1,
      scope: "admin",
      groups: ["admins"],
      email: "ada@example.com",
      email_verified: true,
      name: "Ada Lovelace",
      preferred_username: "x".repeat(321),
    })
    assert.deepStrictEqual(kept, {
      iss,
      sub: "ada",
      email: "ada@example.com",
      email_verified: true,
      name: "Ada Lovelace",
    })
    assert.deepStrictEqual(Schema.decodeUnknownSync(IdentityClaims.IdentityClaims)(kept), kept)
    assert.isTrue(IdentityClaims.isDecoded(JSON.parse(JSON.stringify(kept))))
    // email_verified without an email is not kept; nothing to keep is no record.
    assert.isUndefined(IdentityClaims.fromIdToken({ iss, sub: "ada", email_verified: true }))
    assert.isUndefined(IdentityClaims.fromIdToken({ sub: "ada", email: "ada@example.com" }))
  })

  it("callerOf - an Auth0-shaped access token (no email) gets the id_token's verified email for policy", () => {
    const claims: VerifiedClaims = {
      iss,
      sub: "auth0|ada",
      aud: "https://api.example",
      scope: "openid email",
    }
    const identity = IdentityClaims.fromIdToken({
      iss,
      sub: "auth0|ada",
      email: "Ada@Example.com",
      email_verified: true,
    })
    const upstream: UpstreamTokenSet = {
      id: "ts-1",
      access_token: "at",
      id_token: "it",
      token_type: "Bearer",
      scope: ["email", "openid"],
      expires_at: 1_800_003_600,
      raw: {},
      ...(identity === undefined ? {} : { identity }),
    }
    const token = resolveAccessToken("access_token", upstream, claims, proxy)
    const policy = McpPolicy.compile({
      default: "deny",
      rules: [{ effect: "allow", when: { email_domains: ["example.com"] } }],
    })
    assert.strictEqual(McpPolicy.callerOf(token).email, "ada@example.com")
    assert.strictEqual(
      McpPolicy.decide(policy, McpPolicy.callerOf(token), { method: "tools/list" }).effect,
      "allow",
    )
    // In id_token mode the id_token is the verified token itself: nothing is added.
    assert.isUndefined(resolveAccessToken("id_token", upstream, claims, proxy).claims["email"])
  })
})

describe("IdentityClaims.forSignIn (what the access rules read at sign-in)", () => {
  const email = fc.option(fc.oneof(fc.string({ maxLength: 12 }), fc.constant("mallory@example.com")), {
    nil: undefined,
  })
  const verifiedFlag = fc.option(fc.oneof(fc.boolean(), fc.constant("true")), { nil: undefined })
  const pair = fc.record({ email, email_verified: verifiedFlag }, { requiredKeys: [] })
  const present = (p: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined))

  it("takes email and email_verified as one pair from one token, the id_token's when it states either", () => {
    fc.assert(
      fc.property(pair, pair, (accessPair, idPair) => {
        const access: Record<string, unknown> = { iss, sub: "ada", hd: "a.test", ...present(accessPair) }
        const idToken: Record<string, unknown> = { iss, sub: "ada", tid: "t1", ...present(idPair) }
        const merged = IdentityClaims.forSignIn(access, idToken)
        const fromIdToken = idToken.email !== undefined || idToken.email_verified !== undefined
        const source = fromIdToken ? idToken : access
        assert.strictEqual(merged["email"], source["email"])
        assert.strictEqual(merged["email_verified"], source["email_verified"])
        assert.strictEqual(merged["hd"], "a.test")
        assert.strictEqual(merged["tid"], "t1")
      }),
    )
  })

  it("an access token's unverified email is not made verified by the id_token's email_verified", () => {
    const merged = IdentityClaims.forSignIn(
      { iss, sub: "ada", email: "mallory@example.com" },
      { iss, sub: "ada", email_verified: true },
    )
    assert.isUndefined(merged["email"])
    assert.strictEqual(merged["email_verified"], true)
  })

  it("without an id_token, the access token's claims as they are", () => {
    const access = { iss, sub: "ada", email: "ada@example.com", email_verified: true }
    assert.strictEqual(IdentityClaims.forSignIn(access, undefined), access)
  })
})

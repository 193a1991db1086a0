/**
 * Properties of the network verification rules: whatever an introspection or userinfo answer
 * holds, a token is accepted only when the provider says it is active and it has not expired, and
 * the request's scopes follow the scope rule of the strategy.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { resolveScopes, scopeRule } from "../src/AccessToken.ts"
import * as NetworkVerifier from "../src/NetworkVerifier.ts"
import { InvalidToken } from "../src/OAuthError.ts"
import * as Scopes from "../src/Scopes.ts"
import { Arbitraries } from "../src/testing/index.ts"

const issuer = "https://idp.test"
const now = 1_800_000_000
const rules: NetworkVerifier.Rules = { subjectClaim: "sub", tolerance: 30 }

/** Any JSON value, and values chosen to sit on the edges of each check. */
const anyJson = fc.jsonValue({ maxDepth: 2 })
const activeValue = fc.oneof(
  fc.constant(true),
  fc.constant(false),
  fc.constant("true"),
  fc.constant(1),
  fc.constant(undefined),
  anyJson,
)
const expValue = fc.oneof(
  fc.integer({ min: now - 100_000, max: now + 100_000 }),
  fc.constant(now - 30),
  fc.constant(now - 29),
  fc.constant(undefined),
  fc.constant(`${now + 600}`),
  fc.constant(Number.NaN),
  fc.constant(Number.POSITIVE_INFINITY),
  anyJson,
)
const scopeValue = fc.oneof(
  Arbitraries.scopeString,
  fc.array(Arbitraries.scopeToken, { maxLength: 4 }),
  fc.constant(undefined),
  anyJson,
)
const subValue = fc.oneof(fc.string(), fc.integer(), fc.constant(undefined), anyJson)

/** An answer object: random members, then the members the rules read, each maybe absent. */
const answer = fc
  .record({
    extra: fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 4 }),
    active: activeValue,
    exp: expValue,
    scope: scopeValue,
    sub: subValue,
    client_id: fc.option(fc.string(), { nil: undefined }),
  })
  .map(({ extra, ...known }) => {
    const body: Record<string, unknown> = { ...extra }
    for (const [key, value] of Object.entries(known)) {
      if (value === undefined) delete body[key]
      else body[key] = value
    }
    return body
  })

/** A fast-check property as a test (effect's `it.prop` takes Schemas or effect/Arbitrary only). */
const prop = <A>(name: string, arbitrary: fc.Arbitrary<A>, check: (value: A) => void) =>
  it(name, () => fc.assert(fc.property(arbitrary, check), { numRuns: 500 }))

const unexpired = (exp: unknown) =>
  exp === undefined || (typeof exp === "number" && exp > now - rules.tolerance)

describe("NetworkVerifier", () => {
  prop(
    "fromIntrospection - accepts only an active, unexpired token; scopes are the answer's",
    fc.record({ body: answer, upstream: Arbitraries.upstreamTokenSet() }),
    ({ body, upstream }) => {
      const claims = NetworkVerifier.fromIntrospection(body, { issuer }, rules, now)
      if (claims instanceof InvalidToken) return
      assert.strictEqual(body["active"], true)
      assert.isTrue(unexpired(body["exp"]), `accepted exp ${String(body["exp"])}`)
      assert.strictEqual(claims.iss, issuer)
      // access_token mode: the scopes are exactly what the provider reported for this token.
      const rule = scopeRule({
        verification_mode: "access_token",
        upstream: { verification: "introspection" },
      })
      assert.deepStrictEqual(resolveScopes(rule, upstream, claims), Scopes.fromClaims(body))
    },
  )

  prop(
    "fromIntrospection - a well-formed active, unexpired answer is accepted with its subject",
    fc.record({
      sub: fc.oneof(fc.string({ minLength: 1 }), fc.nat()),
      exp: fc.option(fc.integer({ min: now - 29, max: now + 100_000 }), { nil: undefined }),
      scope: Arbitraries.scopeString,
    }),
    ({ sub, exp, scope }) => {
      const claims = NetworkVerifier.fromIntrospection(
        { active: true, sub, scope, client_id: "c", ...(exp === undefined ? {} : { exp }) },
        { issuer },
        rules,
        now,
      )
      assert.notInstanceOf(claims, InvalidToken)
      if (claims instanceof InvalidToken) return
      assert.strictEqual(claims.sub, String(sub))
      assert.strictEqual(claims["client_id"], "c")
    },
  )

  prop(
    "fromIntrospection - with an expected audience, an accepted answer names it in aud",
    fc.record({
      body: answer,
      aud: fc.oneof(fc.constant("api"), fc.array(fc.constantFrom("api", "other")), anyJson),
    }),
    ({ body, aud }) => {
      const claims = NetworkVerifier.fromIntrospection(
        { ...body, aud },
        { issuer, audience: "api" },
        rules,
        now,
      )
      if (claims instanceof InvalidToken) return
      assert.isTrue(aud === "api" || (Array.isArray(aud) && aud.includes("api")))
    },
  )

  prop(
    "fromIntrospection - with an expected client (upstream.access_token_client_id), an accepted answer names it in client_id",
    fc.record({ body: answer, client_id: fc.oneof(fc.constantFrom("proxy", "other"), anyJson) }),
    ({ body, client_id }) => {
      const claims = NetworkVerifier.fromIntrospection(
        { ...body, client_id },
        { issuer, clientId: "proxy" },
        rules,
        now,
      )
      if (claims instanceof InvalidToken) return
      assert.strictEqual(client_id, "proxy")
    },
  )

  it("fromIntrospection - a token issued to another client of the IdP is refused when the client is checked", () => {
    const body = { active: true, sub: "ada", client_id: "other-app", exp: now + 60 }
    const refused = NetworkVerifier.fromIntrospection(body, { issuer, clientId: "proxy" }, rules, now)
    assert.instanceOf(refused, InvalidToken)
    if (refused instanceof InvalidToken) assert.strictEqual(refused.reason, "audience")
    assert.notInstanceOf(
      NetworkVerifier.fromIntrospection(
        { ...body, client_id: "proxy" },
        { issuer, clientId: "proxy" },
        rules,
        now,
      ),
      InvalidToken,
    )
  })

  prop(
    "fromUserinfo - scopes are the reported header's, else the recorded set, never the body's",
    fc.record({
      body: answer,
      header: fc.option(
        fc.array(Arbitraries.scopeToken, { maxLength: 4 }).map((s) => s.join(", ")),
        {
          nil: undefined,
        },
      ),
      upstream: Arbitraries.upstreamTokenSet(),
    }),
    ({ body, header, upstream }) => {
      const claims = NetworkVerifier.fromUserinfo(
        body,
        NetworkVerifier.reportedScopes(header),
        { issuer },
        rules,
      )
      const sub = body["sub"]
      const usable =
        (typeof sub === "string" && sub !== "") || (typeof sub === "number" && Number.isSafeInteger(sub))
      assert.strictEqual(!(claims instanceof InvalidToken), usable)
      if (claims instanceof InvalidToken) return
      assert.strictEqual(claims.sub, String(sub))
      assert.isUndefined(claims.exp)
      const rule = scopeRule({ verification_mode: "access_token", upstream: { verification: "userinfo" } })
      assert.deepStrictEqual(
        resolveScopes(rule, upstream, claims),
        header === undefined ? Scopes.normalize(upstream.scope) : Scopes.normalize(header.split(/[\s,]+/)),
      )
    },
  )

  it("fromUserinfo - GitHub's numeric id is the subject; X-OAuth-Scopes comma-separated", () => {
    const claims = NetworkVerifier.fromUserinfo(
      { id: 583231, login: "octocat", email: null, scope: "admin" },
      NetworkVerifier.reportedScopes("repo, user:email"),
      { issuer },
      { subjectClaim: "id", tolerance: 30 },
    )
    assert.notInstanceOf(claims, InvalidToken)
    if (claims instanceof InvalidToken) return
    assert.strictEqual(claims.sub, "583231")
    assert.strictEqual(claims["login"], "octocat")
    assert.strictEqual(claims.scope, "repo user:email")
  })
})

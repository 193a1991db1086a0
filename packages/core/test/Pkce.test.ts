/**
 * PKCE S256, in core: the RFC 7636 Appendix B vector, and refusal of anything else.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Pkce from "../src/Pkce.ts"

// RFC 7636 Appendix B.
const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

describe("Pkce", () => {
  it.effect("challengeOf - BASE64URL(SHA-256(verifier))", () =>
    Effect.map(Pkce.challengeOf(verifier), (c) => assert.strictEqual(c, challenge)),
  )

  it.effect("verify - the matching verifier only; a malformed one is refused before hashing", () =>
    Effect.gen(function* () {
      assert.isTrue(yield* Pkce.verify(verifier, challenge))
      assert.isFalse(yield* Pkce.verify(`${verifier.slice(0, -1)}A`, challenge))
      // The challenge itself is not a verifier of itself (plain is not supported).
      assert.isFalse(yield* Pkce.verify(challenge, challenge))
      assert.isFalse(yield* Pkce.verify("short", challenge))
      assert.isFalse(yield* Pkce.verify(`${verifier}!`, challenge))
    }),
  )

  it("isWellFormed - 43 to 128 unreserved characters", () => {
    assert.isTrue(Pkce.isWellFormed("a".repeat(43)))
    assert.isTrue(Pkce.isWellFormed("-._~".repeat(32)))
    assert.isFalse(Pkce.isWellFormed("a".repeat(42)))
    assert.isFalse(Pkce.isWellFormed("a".repeat(129)))
    assert.isFalse(Pkce.isWellFormed(`${"a".repeat(42)}+`))
  })
})

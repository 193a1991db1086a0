/**
 * The one constant-time string comparison (internal/constantTime.ts): plain equality, lengths
 * included, so a prefix of a secret never compares equal.
 */
import { assert, describe, it } from "@effect/vitest"
import { constantTimeEqual } from "../src/internal/constantTime.ts"

describe("constantTime", () => {
  it("constantTimeEqual - equality of strings, lengths included", () => {
    const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert.isTrue(constantTimeEqual("", ""))
    assert.isTrue(constantTimeEqual(challenge, challenge))
    assert.isFalse(constantTimeEqual("a", "ab"))
    assert.isFalse(constantTimeEqual("ab", "a"))
    assert.isFalse(constantTimeEqual("ab", "ac"))
    assert.isFalse(constantTimeEqual(challenge.slice(0, -1), challenge))
  })
})

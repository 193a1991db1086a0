/**
 * The one email rule: what counts as an email at all (a plausible addr-spec), when it counts as
 * verified (the boolean `email_verified: true`), and that the sign-in access rules and the MCP
 * policy, which both read it, accept the same emails and the same domains.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as fc from "fast-check"
import * as AccessRules from "../src/AccessRules.ts"
import * as McpPolicy from "../src/McpPolicy.ts"
import * as VerifiedEmail from "../src/VerifiedEmail.ts"

/** Pieces that meet often: domains, `@`, controls, whitespace, format characters, a lone surrogate. */
const piece = fc.constantFrom(
  "ada",
  "B",
  "@",
  "example.com",
  "EXAMPLE.com",
  "evil.test",
  ".",
  "\r\n",
  "\t",
  " ",
  "\u0000",
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u200b",
  "\u202e",
  "\u2028",
  "ü",
  "😀",
  "\uD800",
)
const emailish = fc.oneof(
  fc.array(piece, { maxLength: 8 }).map((parts) => parts.join("")),
  fc.string({ unit: "binary", maxLength: 24 }),
  fc
    .tuple(fc.string({ unit: "binary", maxLength: 8 }), fc.string({ unit: "binary", maxLength: 8 }))
    .map(([local, rest]) => `${local}@${rest}example.com`),
)
const domains = fc.array(fc.constantFrom("example.com", "EXAMPLE.COM", "@example.com", "evil.test", "com"), {
  minLength: 1,
  maxLength: 3,
})

const domainRule = (emailDomains: ReadonlyArray<string>, email: string) =>
  AccessRules.denial(Schema.decodeUnknownSync(AccessRules.AccessConfig)({ email_domains: emailDomains }), {
    email,
    email_verified: true,
  }) === undefined

const policyCondition = (emailDomains: ReadonlyArray<string>, email: string) => {
  const policy = McpPolicy.decode({
    default: "deny",
    rules: [{ effect: "allow", when: { email_domains: emailDomains } }],
  })
  if (policy._tag === "Failure") throw new Error("policy refused")
  const caller = McpPolicy.callerOf({
    token: "t",
    client_id: "c",
    subject: "s",
    scopes: [],
    expires_at: 1,
    claims: { iss: "x", email, email_verified: true },
  })
  return McpPolicy.decide(policy.success, caller, { method: "ping" }).effect === "allow"
}

describe("VerifiedEmail", () => {
  it("isPlausible - one @, both sides non-empty, no control or whitespace, at most 320 bytes", () => {
    for (const email of ["ada@example.com", "Ada.Lovelace+x@Example.COM", "ü@bücher.example", "a@b"])
      assert.isTrue(VerifiedEmail.isPlausible(email), email)
    for (const email of [
      "ada\r\nX@example.com",
      "a b@example.com",
      "ada@example.com\u0000",
      "ada@example.com\n",
      "\tada@example.com",
      "ada@evil.test@example.com",
      '"a@b"@example.com',
      "@example.com",
      "ada@",
      "ada",
      "",
      "ada\u200b@example.com",
      "ada\u202e@example.com",
      "ada\u00a0@example.com",
      "ada\u2028@example.com",
      "ada\u0085@example.com",
      "ada\uD800@example.com",
      `${"a".repeat(309)}@example.com`,
      `${"ü".repeat(155)}@example.com`,
    ])
      assert.isFalse(VerifiedEmail.isPlausible(email), JSON.stringify(email))
    assert.isTrue(VerifiedEmail.isPlausible(`${"a".repeat(308)}@example.com`))
  })

  it("of - the boolean email_verified: true only, unless trusted; never an implausible email", () => {
    const email = "Ada@Example.com"
    assert.strictEqual(VerifiedEmail.of({ email, email_verified: true }), email)
    for (const verified of ["true", "TRUE", 1, false, null, undefined, [true], { v: true }])
      assert.isUndefined(VerifiedEmail.of({ email, email_verified: verified }), String(verified))
    assert.strictEqual(VerifiedEmail.of({ email }, { trustUnverifiedEmail: true }), email)
    assert.isUndefined(VerifiedEmail.of({ email: "a b@example.com" }, { trustUnverifiedEmail: true }))
    assert.isUndefined(VerifiedEmail.of({ email: ["ada@example.com"], email_verified: true }))
  })

  it("a domain rule refuses the emails that only looked like its domain", () => {
    for (const email of [
      "ada\r\nX@example.com",
      "a b@example.com",
      "ada@evil.test@example.com",
      "@example.com",
    ]) {
      assert.isFalse(domainRule(["example.com"], email), JSON.stringify(email))
      assert.isFalse(policyCondition(["example.com"], email), JSON.stringify(email))
    }
    assert.isTrue(domainRule(["example.com"], "Ada@EXAMPLE.com"))
    assert.isTrue(policyCondition(["example.com"], "Ada@EXAMPLE.com"))
  })

  it("property - no email the rule accepts holds a control character, whitespace or two @", () => {
    fc.assert(
      fc.property(emailish, fc.boolean(), (email, trust) => {
        const counted = [
          VerifiedEmail.of({ email, email_verified: true }, { trustUnverifiedEmail: trust }),
          McpPolicy.callerOf(
            {
              token: "t",
              client_id: "c",
              subject: "s",
              scopes: [],
              expires_at: 1,
              claims: { iss: "x", email },
            },
            { trustUnverifiedEmail: true },
          ).email,
        ]
        for (const value of counted) {
          if (value === undefined) continue
          if (/[\p{Cc}\s]/u.test(value) || value.split("@").length !== 2) return false
        }
        // A domain rule that admits it admits exactly the part after its only @.
        return (
          !domainRule(["example.com"], email) || (email.split("@").length === 2 && !/[\p{Cc}\s]/u.test(email))
        )
      }),
      { numRuns: 2000 },
    )
  })

  it("property - the sign-in domain rule and the policy condition agree", () => {
    fc.assert(
      fc.property(emailish, domains, (email, emailDomains) => {
        return domainRule(emailDomains, email) === policyCondition(emailDomains, email)
      }),
      { numRuns: 2000 },
    )
  })
})

/**
 * The identity header's email follows core's one email rule: for any claims, `X-Auth-Request-Email`
 * is sent exactly when the MCP policy's caller has an email and (without `trustUnverifiedEmail`)
 * exactly when that email can pass a sign-in email rule — never for the string `"true"`, never
 * for an email with a control character, whitespace or a second `@`.
 */
import { AccessRules, type AccessToken, McpPolicy } from "@oidc-proxy/core"
import { Schema } from "effect"
import * as fc from "fast-check"
import { assert, describe, it } from "vitest"
import * as IdentityHeaders from "../src/IdentityHeaders.ts"

const tokenOf = (claims: Record<string, unknown>): AccessToken.AccessToken => ({
  token: "t",
  client_id: "c",
  subject: "s",
  scopes: [],
  expires_at: 1,
  claims: { iss: "x", ...claims },
})

const headerEmail = (claims: Record<string, unknown>, trustUnverifiedEmail: boolean) =>
  IdentityHeaders.of(tokenOf(claims), { trustUnverifiedEmail })["x-auth-request-email"]

/** Whether a sign-in rule naming exactly this email admits it (the rule lower-cases both). */
const signInAdmits = (claims: Record<string, unknown>) => {
  const email = claims["email"]
  if (typeof email !== "string" || email === "") return false
  const rules = Schema.decodeUnknownSync(AccessRules.AccessConfig)({ emails: [email] })
  return AccessRules.denial(rules, claims) === undefined
}

const emails = fc.oneof(
  fc.constantFrom(
    "ada@example.com",
    "Ada@Example.COM",
    "ada\r\nX@example.com",
    "a b@example.com",
    "ada@evil.test@example.com",
    "@example.com",
    "ada@",
    "ü@bücher.example",
    "",
  ),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.anything(),
)
const verified = fc.oneof(fc.constantFrom(true, false, "true", "TRUE", "false", 1, 0, null), fc.anything())
const claims = fc.record({ email: emails, email_verified: verified }, { requiredKeys: [] })

describe("IdentityHeaders", () => {
  it("of - the email only for the boolean email_verified: true, unless trusted", () => {
    const email = "ada@example.com"
    assert.strictEqual(headerEmail({ email, email_verified: true }, false), email)
    assert.isUndefined(headerEmail({ email, email_verified: "true" }, false))
    assert.strictEqual(headerEmail({ email }, true), email)
    assert.isUndefined(headerEmail({ email: "ada\r\nX@example.com", email_verified: true }, false))
    assert.isUndefined(headerEmail({ email: "ada@evil.test@example.com" }, true))
  })

  it("property - the header, the policy caller and the sign-in rules agree for any claims", () => {
    fc.assert(
      fc.property(claims, fc.boolean(), (c, trust) => {
        const header = headerEmail(c, trust)
        const caller = McpPolicy.callerOf(tokenOf(c), { trustUnverifiedEmail: trust }).email
        if ((header === undefined) !== (caller === undefined)) return false
        // The access rules never trust an unverified email; without trust all three agree.
        if (!trust && (header !== undefined) !== signInAdmits(c)) return false
        return header === undefined || (typeof c.email === "string" && caller === c.email.toLowerCase())
      }),
      { numRuns: 2000 },
    )
  })
})

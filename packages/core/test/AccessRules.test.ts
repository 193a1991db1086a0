/**
 * The access rules: every list that is set must hold; emails and email domains count only when the
 * email is verified; groups from `groups` or `cognito:groups`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import * as AccessRules from "../src/AccessRules.ts"

const rules = (input: Record<string, unknown>) => Schema.decodeUnknownSync(AccessRules.AccessConfig)(input)
const allowed = (input: Record<string, unknown>, claims: Record<string, unknown>) =>
  AccessRules.denial(rules(input), claims) === undefined

describe("AccessRules", () => {
  it("denial - no rules: anyone", () => {
    assert.isFalse(AccessRules.isRestricted(rules({})))
    assert.isTrue(allowed({}, {}))
  })

  it("denial - emails and email domains: verified emails only, case-insensitive, either list", () => {
    const r = { emails: ["Boss@Other.example"], email_domains: ["example.com"] }
    assert.isTrue(AccessRules.isRestricted(rules(r)))
    assert.isTrue(allowed(r, { email: "ann@EXAMPLE.com", email_verified: true }))
    assert.isTrue(allowed(r, { email: "boss@other.example", email_verified: true }))
    assert.isFalse(allowed(r, { email: "ann@example.com" }))
    assert.isFalse(allowed(r, { email: "ann@example.com", email_verified: "true" }))
    assert.isFalse(allowed(r, { email: "ann@sub.example.com", email_verified: true }))
    assert.isFalse(allowed(r, { email: "ann@example.com.evil", email_verified: true }))
    assert.isFalse(allowed(r, { email: "other@other.example", email_verified: true }))
    assert.isFalse(allowed(r, { email_verified: true }))
  })

  it("denial - tenants, hosted domains and groups; all set lists must hold", () => {
    const r = { tenants: ["t1"], hosted_domains: ["example.com"], groups: ["admins", "ops"] }
    const ok = { tid: "t1", hd: "Example.com", groups: ["users", "ops"] }
    assert.isTrue(allowed(r, ok))
    assert.isTrue(allowed(r, { ...ok, groups: undefined, "cognito:groups": ["admins"] }))
    assert.isFalse(allowed(r, { ...ok, tid: "t2" }))
    assert.isFalse(allowed(r, { ...ok, hd: undefined }))
    assert.isFalse(allowed(r, { ...ok, groups: ["users"] }))
    assert.isFalse(allowed(r, { ...ok, groups: "users" }))
    assert.match(AccessRules.denial(rules(r), { ...ok, tid: "t2" }) ?? "", /tenant/)
  })

  it("denial - organizations: one of the orgs claim, case-insensitive; none or another refused", () => {
    const r = { organizations: ["Acme-Corp"] }
    assert.isTrue(AccessRules.isRestricted(rules(r)))
    assert.isTrue(allowed(r, { orgs: ["other", "acme-corp"] }))
    assert.isFalse(allowed(r, { orgs: ["other"] }))
    assert.isFalse(allowed(r, { orgs: [] }))
    assert.isFalse(allowed(r, {}))
    assert.match(AccessRules.denial(rules(r), { orgs: ["other"] }) ?? "", /organizations/)
  })
})

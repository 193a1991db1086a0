/**
 * Tests of `Respond.downstreamTokenFailure`: each reason a downstream token could not be obtained
 * has its one answer, and no answer quotes more than the IdP's error code.
 */
import { assert, describe, it } from "@effect/vitest"
import { OAuthError } from "@oidc-proxy/core"
import { Respond } from "../src/index.ts"

const failure = (reason: OAuthError.DownstreamTokenError["reason"], error?: string) =>
  new OAuthError.DownstreamTokenError({
    reason,
    description: "internal detail that stays in the logs",
    ...(error === undefined ? {} : { error }),
  })

describe("Respond", () => {
  it("downstreamTokenFailure - outage: 503 temporarily_unavailable with Retry-After", async () => {
    const response = Respond.downstreamTokenFailure(failure("unavailable"))
    assert.strictEqual(response.status, 503)
    assert.strictEqual(response.headers.get("retry-after"), "5")
    assert.strictEqual((await response.json()).error, "temporarily_unavailable")
  })

  it("downstreamTokenFailure - subject refused or missing: 401 invalid_token with its challenge", async () => {
    for (const reason of ["subject_refused", "no_subject"] as const) {
      const response = Respond.downstreamTokenFailure(failure(reason, "invalid_grant"))
      assert.strictEqual(response.status, 401)
      assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/)
      assert.strictEqual((await response.json()).error, "invalid_token")
    }
  })

  it("downstreamTokenFailure - any other refusal: 403 access_denied naming the IdP's code, no challenge", async () => {
    const response = Respond.downstreamTokenFailure(failure("refused", "invalid_target"))
    assert.strictEqual(response.status, 403)
    assert.isNull(response.headers.get("www-authenticate"))
    const body = await response.json()
    assert.strictEqual(body.error, "access_denied")
    assert.include(body.error_description, "(invalid_target)")
    assert.notInclude(body.error_description, "internal detail")
  })

  it("downstreamTokenFailure - an unusable answer: 502", async () => {
    const response = Respond.downstreamTokenFailure(failure("bad_response"))
    assert.strictEqual(response.status, 502)
    assert.notInclude(await response.text(), "internal detail")
  })
})

/**
 * Tests of the edge's admission: protected paths, the bearer of an `Authorization` header (RFC
 * 6750 syntax, size bound, canonical base64url JWT segments) and the challenge it answers with.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Admission from "../src/Admission.ts"

const admission = Admission.make({ resource: "https://proxy.test/mcp", required_scopes: ["mcp:tools"] })
const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlMDE"

describe("Admission", () => {
  it("isProtected - the resource path and below, nothing beside it", () => {
    assert.isTrue(admission.isProtected("/mcp"))
    assert.isTrue(admission.isProtected("/mcp/x"))
    assert.isFalse(admission.isProtected("/mcpx"))
    assert.isFalse(admission.isProtected("//mcp"))
    assert.isFalse(admission.isProtected("/token"))
    const root = Admission.make({ resource: "https://proxy.test/", required_scopes: [] })
    assert.isTrue(root.isProtected("/anything"))
  })

  it("bearer - the token of a well-formed header, any case of the scheme, spaces around", () => {
    assert.strictEqual(admission.bearer(`Bearer ${jwt}`), jwt)
    assert.strictEqual(admission.bearer(`bearer   ${jwt}  `), jwt)
    assert.strictEqual(admission.bearer("Bearer opaque-token~1"), "opaque-token~1")
  })

  it("bearer - no credentials: 401 without error, naming the required scopes", () => {
    for (const header of [
      undefined,
      null,
      "Basic dXNlcjpwdw==",
      "Bearer",
      "Bearer ",
      "Bearerx abc",
      "Bearer a b",
    ]) {
      const answer = admission.bearer(header)
      assert.notStrictEqual(typeof answer, "string", String(header))
      if (typeof answer === "string") continue
      assert.strictEqual(answer.status, 401)
      assert.isUndefined(answer.error)
      assert.deepStrictEqual(answer.challenge, { scope: "mcp:tools" })
    }
  })

  it("bearer - a JWT segment with padding, + or /, or stray padding bits is refused as not well-formed", () => {
    for (const token of [
      `${jwt}=`,
      `${jwt}==`,
      jwt.replace("c2ln", "c2+n"),
      `${jwt.slice(0, -1)}F`,
      `${jwt}AA`,
    ]) {
      const answer = admission.bearer(`Bearer ${token}`)
      assert.notStrictEqual(typeof answer, "string", token)
      if (typeof answer === "string") continue
      assert.strictEqual(answer.error, "invalid_token")
      assert.strictEqual(answer.description, "The access token is not a well-formed JWT")
    }
  })

  it("bearer - a token over the size bound is refused before anything else", () => {
    const answer = admission.bearer(`Bearer ${"a".repeat(Admission.maxTokenLength + 1)}`)
    assert.strictEqual(
      typeof answer === "string" ? answer : answer.description,
      "The access token is too large",
    )
    assert.strictEqual(admission.bearer(`Bearer ${"a".repeat(Admission.maxTokenLength)}`), "a".repeat(8192))
  })

  it("token - the same rules for a token taken from its header elsewhere", () => {
    assert.strictEqual(admission.token(jwt), jwt)
    const padded = admission.token(`${jwt}=`)
    assert.strictEqual(
      typeof padded === "string" ? padded : padded.description,
      "The access token is not a well-formed JWT",
    )
    const spaced = admission.token("a b")
    assert.strictEqual(typeof spaced === "string" ? spaced : spaced.error, "invalid_token")
    assert.strictEqual(admission.token(""), admission.unauthenticated)
  })
})

/**
 * Redirect URI rules, in core: what a client may register, and how a request's URI is matched
 * (exact; loopback http any port, RFC 8252 §7.3), and the allow-list patterns.
 */
import { assert, describe, it } from "@effect/vitest"
import * as RedirectUri from "../src/RedirectUri.ts"

describe("RedirectUri", () => {
  it("validate - https, loopback http and (native) reverse-DNS schemes may be registered", () => {
    assert.isUndefined(RedirectUri.validate("https://app.example/cb", "web"))
    assert.isUndefined(RedirectUri.validate("http://127.0.0.1:3000/cb", "web"))
    assert.isUndefined(RedirectUri.validate("http://localhost/cb", "native"))
    assert.isUndefined(RedirectUri.validate("com.example.app:/cb", "native"))
  })

  it("validate - dangerous, ambiguous or non-canonical URIs are refused with the reason", () => {
    const reason = (uri: string, type: RedirectUri.ApplicationType = "web") => RedirectUri.validate(uri, type)
    assert.strictEqual(reason("javascript:alert(1)", "native"), "uses the forbidden scheme javascript:")
    assert.strictEqual(reason("data:text/html,x", "native"), "uses the forbidden scheme data:")
    assert.strictEqual(reason("file:///etc/passwd", "native"), "uses the forbidden scheme file:")
    assert.strictEqual(reason("https://app.example/cb#x"), "must not contain a fragment")
    assert.strictEqual(reason("https://u:p@app.example/cb"), "must not contain userinfo")
    assert.strictEqual(
      reason("https://app.example/a/../cb"),
      "is not in canonical form (dot segments, escapes or case)",
    )
    assert.strictEqual(
      reason("HTTPS://app.example/cb"),
      "is not in canonical form (dot segments, escapes or case)",
    )
    assert.strictEqual(reason("/cb"), "is not an absolute URI")
    assert.strictEqual(reason(`https://app.example/${"a".repeat(2000)}`), "is too long")
    assert.strictEqual(
      reason("http://app.example/cb"),
      "must use https (http is allowed only on loopback hosts)",
    )
    assert.strictEqual(
      reason("com.example.app:/cb"),
      "must use https (private-use schemes need application_type native)",
    )
    assert.strictEqual(
      reason("myapp:/cb", "native"),
      "must use https, loopback http or a reverse-DNS private-use scheme",
    )
  })

  it("matches - exact, or loopback http on any port with the same host, path and query", () => {
    const registered = ["https://app.example/cb", "http://127.0.0.1:3000/cb?x=1"]
    assert.isTrue(RedirectUri.matches("https://app.example/cb", registered))
    assert.isTrue(RedirectUri.matches("http://127.0.0.1:49152/cb?x=1", registered))
    assert.isFalse(RedirectUri.matches("https://app.example:8443/cb", registered))
    assert.isFalse(RedirectUri.matches("https://app.example/cb/", registered))
    assert.isFalse(RedirectUri.matches("http://127.0.0.1:49152/other?x=1", registered))
    assert.isFalse(RedirectUri.matches("http://127.0.0.1:49152/cb", registered))
    assert.isFalse(RedirectUri.matches("http://localhost:3000/cb?x=1", registered))
    assert.isFalse(RedirectUri.matches("http://u@127.0.0.1:49152/cb?x=1", registered))
  })

  it("compilePatterns - `*` stays within a path segment, `**` spans; no pattern allows all", () => {
    const allowed = RedirectUri.compilePatterns(["https://*.example.com/cb", "https://app.test/**"])
    assert.isTrue(allowed("https://a.example.com/cb"))
    assert.isFalse(allowed("https://evil.test/x.example.com/cb"))
    assert.isFalse(allowed("https://a.example.com/cb/more"))
    assert.isTrue(allowed("https://app.test/a/b/c"))
    assert.isFalse(allowed("https://app.testing/a"))
    assert.isTrue(RedirectUri.compilePatterns([])("https://anything.example/"))
  })
})

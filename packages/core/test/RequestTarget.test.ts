/**
 * Tests of the edge's request-target and method rules (RFC 9112 §3.2, RFC 9110 §15.5.6).
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as RequestTarget from "../src/RequestTarget.ts"

const own = ["http://127.0.0.1:8080"]
const parse = (raw: string, method = "GET") => RequestTarget.parse(raw, method, own)

describe("RequestTarget", () => {
  it("parse - origin-form is a path, `//` included: never an authority", () => {
    assert.deepStrictEqual(parse("/mcp?a=1"), { _tag: "Path", path: "/mcp", search: "?a=1" })
    assert.deepStrictEqual(parse("//evil.example/healthz"), {
      _tag: "Path",
      path: "//evil.example/healthz",
      search: "",
    })
    assert.deepStrictEqual(parse("//?a=1"), { _tag: "Path", path: "//", search: "?a=1" })
    assert.deepStrictEqual(parse("/mcp?"), { _tag: "Path", path: "/mcp", search: "" })
    assert.deepStrictEqual(parse("/a%2Cb/x.y/.z/..a"), {
      _tag: "Path",
      path: "/a%2Cb/x.y/.z/..a",
      search: "",
    })
  })

  it("parse - bad percent-encoding, NUL, encoded slashes, dot-segments and characters outside pchar are refused", () => {
    for (const raw of [
      "//%zz/",
      "/mcp%0",
      "//mcp%00",
      "/mcp/./x",
      "/mcp/../token",
      "/mcp/..",
      "/mcp/%2e%2E/x",
      "/mcp/.%2e",
      "/mcp/%2f..%2ftoken",
      "/mcp/%2F",
      "/mcp//%5c..",
      "/mcp/a%5Cb",
      "/a b",
      "/a\\b",
      "/é",
      "/a<b>",
      "/mcp?x=<",
    ]) {
      assert.strictEqual(parse(raw)._tag, "Refused", raw)
      assert.strictEqual(RequestTarget.originFormQueryIndex(raw), -1, raw)
    }
  })

  it("parse - absolute-form only for the server's own authority, then its path", () => {
    assert.deepStrictEqual(parse("http://127.0.0.1:8080/healthz?x"), {
      _tag: "Path",
      path: "/healthz",
      search: "?x",
    })
    assert.deepStrictEqual(parse("HTTP://127.0.0.1:8080"), { _tag: "Path", path: "/", search: "" })
    assert.strictEqual(parse("http://evil.example/healthz")._tag, "Refused")
    assert.strictEqual(parse("http://127.0.0.1:8080.evil/healthz")._tag, "Refused")
    assert.strictEqual(parse("http://127.0.0.1:8080/../x")._tag, "Refused")
    assert.strictEqual(parse("evil.example:443", "CONNECT")._tag, "Refused")
  })

  it("parse - asterisk-form only for OPTIONS", () => {
    assert.deepStrictEqual(parse("*", "OPTIONS"), { _tag: "Asterisk" })
    assert.strictEqual(parse("*", "GET")._tag, "Refused")
  })

  it("methodAnswer - TRACE, CONNECT and unimplemented methods 405 (never a 5xx), HEAD as GET", () => {
    assert.isUndefined(RequestTarget.methodAnswer("POST", ["POST"]))
    assert.isUndefined(RequestTarget.methodAnswer("HEAD", ["GET"]))
    assert.strictEqual(RequestTarget.methodAnswer("GET", ["POST"]), 405)
    assert.strictEqual(RequestTarget.methodAnswer("TRACE", ["GET", "POST"]), 405)
    assert.strictEqual(RequestTarget.methodAnswer("CONNECT", ["GET"]), 405)
    assert.strictEqual(RequestTarget.methodAnswer("PROPFIND", ["GET"]), 405)
  })
})

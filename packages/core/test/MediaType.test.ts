/**
 * `MediaType`: a `Content-Type` is JSON in UTF-8 only when it says nothing else, however its
 * parameters are written; any other charset, or a `charset` a looser parser could read, is not.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as JsonRpc from "../src/JsonRpc.ts"
import * as MediaType from "../src/MediaType.ts"

describe("MediaType", () => {
  it("parse - type, subtype and parameters per RFC 9110 §8.3.1", () => {
    assert.deepStrictEqual(MediaType.parse('Application/JSON ; Charset="utf\\-8";;q=1'), {
      type: "application/json",
      parameters: [
        ["charset", "utf-8"],
        ["q", "1"],
      ],
    })
    for (const bad of [
      "application",
      "application/",
      "/json",
      'application/json; a="open',
      "application/json x",
    ])
      assert.isUndefined(MediaType.parse(bad), bad)
  })

  it("jsonBody - UTF-8 in any case and quoting is JSON; other types are not", () => {
    for (const ok of [
      "application/json",
      "application/json; charset=utf-8",
      'application/json;charset="UTF-8"',
      "APPLICATION/JSON; CHARSET=UTF8",
    ])
      assert.deepStrictEqual(MediaType.jsonBody(ok), { _tag: "Json" }, ok)
    for (const no of [null, "", "text/plain", "application/json-seq", "application/json x"])
      assert.deepStrictEqual(MediaType.jsonBody(no), { _tag: "NotJson" }, String(no))
  })

  it("jsonBody - another charset, a repeated one or one hidden from a strict parser is refused", () => {
    assert.deepStrictEqual(MediaType.jsonBody("application/json; charset=iso-8859-1"), {
      _tag: "Charset",
      charset: "iso-8859-1",
    })
    for (const no of [
      "application/json; charset=utf-16",
      'application/json; charset="UTF-16LE"',
      "application/json; charset=utf-8; charset=latin1",
      'application/json; x="; charset=latin1"',
      "application/json; xcharset=latin1",
      "application/json; charset=",
    ])
      assert.strictEqual(MediaType.jsonBody(no)._tag === "Json", false, no)
  })

  it("charset - any field naming a charset that is not UTF-8 is refused, whatever its type or form", () => {
    const other = fc.constantFrom("latin1", "iso-8859-1", "utf-16", "UTF-16BE", "utf-32", "cp1252", "utf-7")
    const form = fc.constantFrom(
      (c: string) => `application/json; charset=${c}`,
      (c: string) => `application/json;charset="${c}"`,
      (c: string) => `text/plain; charset=${c}`,
      (c: string) => `application/json; charset=utf-8; charset=${c}`,
      (c: string) => `application/json; a="b; charset=${c}"`,
      (c: string) => `application/json, text/plain; charset=${c}`,
    )
    fc.assert(
      fc.property(other, form, fc.string({ maxLength: 8 }), (charset, f, noise) => {
        assert.strictEqual(MediaType.charset(`${f(charset)}${noise}`)._tag, "Charset")
      }),
    )
  })

  it("JsonRpc.parse - a leading byte order mark is a parse error, never skipped", () => {
    assert.deepStrictEqual(JsonRpc.parse('\uFEFF{"jsonrpc":"2.0","id":1,"method":"ping"}'), {
      _tag: "Invalid",
      code: -32700,
      reason: "the body begins with a byte order mark",
    })
  })
})

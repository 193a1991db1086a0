/**
 * The policy file loader: YAML and JSON, every problem named by file, line and field.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as NodePolicy from "../src/NodePolicy.ts"

const reasons = (text: string): string => {
  const parsed = NodePolicy.parse(text, "p.yaml")
  return Result.isFailure(parsed) ? parsed.failure.join("\n") : "decoded"
}

describe("NodePolicy", () => {
  it("parse - YAML and JSON decode to the same policy", () => {
    assert.strictEqual(reasons("default: deny\nrules:\n  - effect: allow\n    tools: [a]\n"), "decoded")
    assert.strictEqual(
      reasons('{"default": "deny", "rules": [{"effect": "allow", "tools": ["a"]}]}'),
      "decoded",
    )
  })

  it("parse - a bad field is named with its line, in YAML and in JSON", () => {
    assert.match(
      reasons(
        "default: deny\nrules:\n  - effect: allow\n    scopes: [a]\n  - effect: deny\n    scopes: [b]\n",
      ),
      /^p\.yaml:6: rules\[1\]\.scopes: scopes applies to allow rules only/,
    )
    assert.match(
      reasons('{\n "default": "deny",\n "rules": [\n  {"effect": "allow", "tools": [3]}\n ]\n}'),
      /^p\.yaml:4: rules\[0\]\.tools\[0\]: /,
    )
    assert.match(reasons("rules: []\n"), /^p\.yaml:1: default: Missing key/)
  })

  it("parse - not YAML, duplicate keys and a scalar document are refused with a line", () => {
    assert.match(reasons("default: deny\nrules: [\n"), /^p\.yaml:\d+: not valid YAML or JSON/)
    assert.match(
      reasons("default: deny\ndefault: allow\nrules: []\n"),
      /^p\.yaml:2: not valid YAML or JSON: DUPLICATE_KEY/,
    )
    assert.match(reasons("just text"), /^p\.yaml:1: \(root\): must be a mapping/)
  })

  it("load - an unreadable file is named with the reason, never its content", () => {
    const loaded = NodePolicy.load("/nonexistent/policy.yaml")
    assert.isTrue(Result.isFailure(loaded))
    if (Result.isFailure(loaded))
      assert.deepStrictEqual(loaded.failure, ["/nonexistent/policy.yaml: cannot read (ENOENT)"])
  })
})

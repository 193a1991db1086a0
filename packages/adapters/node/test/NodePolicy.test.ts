/**
 * The policy file loader: YAML and JSON, every problem named by file, line and field.
 *
 * @since 0.1.0
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { McpPolicy } from "@oidc-proxy/core"
import { Result } from "effect"
import * as ConfigCheck from "../src/ConfigCheck.ts"
import * as NodePolicy from "../src/NodePolicy.ts"
import { env } from "./fixtures.ts"

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

describe("NodePolicy (README examples)", () => {
  const readme = readFileSync(join(import.meta.dirname, "..", "..", "..", "..", "README.md"), "utf8")
  const section = readme.slice(
    readme.indexOf("#### Policy"),
    readme.indexOf("### 2. Embedded in a Node program"),
  )
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!)
  const policyOf = (text: string): McpPolicy.Policy => {
    const parsed = NodePolicy.parse(text, "README.md")
    if (Result.isFailure(parsed)) throw new Error(parsed.failure.join("\n"))
    return parsed.success
  }
  const caller = (claims: Record<string, unknown>, scopes: ReadonlyArray<string> = []) =>
    McpPolicy.callerOf({
      token: "t",
      client_id: "c",
      subject: "s",
      scopes,
      expires_at: 0,
      claims: { iss: "i", ...claims },
    })
  const tool = (p: McpPolicy.Policy, who: McpPolicy.Caller, name: string) =>
    McpPolicy.decide(p, who, { method: "tools/call", target: name })

  it("every example decodes, and does what the README says", () => {
    assert.strictEqual(blocks.length, 4)
    const [, readOnly, adminOnly, perTenant] = blocks.map(policyOf) as [
      McpPolicy.Policy,
      McpPolicy.Policy,
      McpPolicy.Policy,
      McpPolicy.Policy,
    ]
    const anyone = caller({})
    assert.strictEqual(tool(readOnly, anyone, "read_file").effect, "allow")
    assert.strictEqual(tool(readOnly, anyone, "write_file").effect, "deny")
    assert.strictEqual(
      McpPolicy.decide(readOnly, anyone, { method: "resources/read", target: "x" }).effect,
      "allow",
    )
    const admin = caller({ groups: ["admins"] })
    assert.deepStrictEqual(tool(adminOnly, admin, "delete_project").missingScopes, ["mcp:admin"])
    assert.strictEqual(
      tool(adminOnly, caller({ groups: ["admins"] }, ["mcp:admin"]), "delete_project").effect,
      "allow",
    )
    assert.deepStrictEqual(tool(adminOnly, anyone, "delete_project"), { effect: "deny", rule: "no-delete" })
    assert.strictEqual(tool(adminOnly, anyone, "list_projects").effect, "allow")
    assert.strictEqual(tool(perTenant, caller({ tenant: "acme" }), "acme_report").effect, "allow")
    assert.strictEqual(
      tool(perTenant, caller({ email: "a@acme.example", email_verified: true }), "acme_report").effect,
      "allow",
    )
    assert.strictEqual(tool(perTenant, caller({ tenant: "globex" }), "acme_report").effect, "deny")
    assert.strictEqual(tool(perTenant, caller({ tenant: "acme" }), "globex_report").effect, "deny")
  })

  it("the error message the README shows is the one given", () => {
    assert.match(
      reasons(
        "default: deny\nrules:\n  - effect: allow\n    tools: [a]\n  - id: x\n    tools: [b]\n    effect: maybe\n",
      ),
      /^p\.yaml:7: rules\[1\]\.effect: Expected "allow" \| "deny"$/,
    )
  })
})

describe("oidc-proxy check (policy)", () => {
  it("a policy file that does not decode is a configuration problem naming the variable, line and field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "policy-check-"))
    const path = join(dir, "policy.yaml")
    writeFileSync(path, "default: allow\nrules:\n  - effect: allow\n    tool: [x]\n")
    const report = await ConfigCheck.run(env({ OIDC_PROXY_POLICY: path }), { timeoutDuration: "200 millis" })
    assert.deepStrictEqual(
      report.configuration.filter((i) => i.startsWith("OIDC_PROXY_POLICY")),
      [`OIDC_PROXY_POLICY: ${path}:4: rules[0].tool: Expected no excess property`],
    )
    assert.strictEqual(ConfigCheck.format(report).exitCode, 2)
  })
})

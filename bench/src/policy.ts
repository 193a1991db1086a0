/**
 * The gateway bench's policy: 20 rules over the stand-in's 20 tools, written as an operator would
 * (a handshake rule, per-tool rules with conditions on the verified claims, default deny).
 *
 * For the bench's caller (subject `user-1`, no groups): `tools/call ping` walks every rule and is
 * allowed by the last one; `tools/list` keeps 10 of the 20 tools (`tool_01`…`tool_09` and `ping`)
 * — `tool_10`…`tool_18` need the `admins` group, `tool_19` has no rule (default deny).
 */

/** The 20 tools the MCP stand-in lists. */
export const toolNames: ReadonlyArray<string> = [
  ...Array.from({ length: 19 }, (_, i) => `tool_${String(i + 1).padStart(2, "0")}`),
  "ping",
]

/** The policy file (YAML): 1 handshake rule, 9 rules for `user-1`, 9 for `admins`, 1 for `ping`. */
export const policyYaml = (): string => {
  const rule = (id: string, tool: string, when: string) =>
    `  - { id: ${id}, effect: allow, tools: ["${tool}"], when: ${when} }`
  const lines = ["default: deny", "rules:"]
  lines.push(`  - { id: handshake, effect: allow, methods: [initialize, "notifications/*", ping, "*/list"] }`)
  for (const name of toolNames.slice(0, 9)) lines.push(rule(`users-${name}`, name, "{ subjects: [user-1] }"))
  for (const name of toolNames.slice(9, 18)) lines.push(rule(`admins-${name}`, name, "{ groups: [admins] }"))
  lines.push(rule("ping", "ping", "{ subjects: [user-1], client_ids: [bench-client] }"))
  return `${lines.join("\n")}\n`
}

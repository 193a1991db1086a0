/**
 * The gateway bench's policy: 20 rules over the stand-in's 20 tools, written as an operator would
 * (a handshake rule, per-tool rules with conditions on the verified claims, default deny).
 *
 * For the bench's caller (subject `user-1`, client `bench-client`, no groups): `tools/call ping`
 * walks every rule and is allowed by the last one; `tools/list` keeps 10 of the 20 tools
 * (`tool_01`…`tool_09` and `ping`) — `tool_10`…`tool_18` need the `admins` group, `tool_19` has no
 * rule (default deny).
 */

/** The 20 tools the MCP stand-in lists. */
export const toolNames: ReadonlyArray<string> = [
  ...Array.from({ length: 19 }, (_, i) => `tool_${String(i + 1).padStart(2, "0")}`),
  "ping",
]

const allow = (id: string, tool: string, when: Record<string, ReadonlyArray<string>>) => ({
  id,
  effect: "allow",
  tools: [tool],
  when,
})

/** The policy file's content: 1 handshake rule, 9 rules for `user-1`, 9 for `admins`, 1 for `ping`. */
export const policy = {
  default: "deny",
  rules: [
    { id: "handshake", effect: "allow", methods: ["initialize", "notifications/*", "ping", "*/list"] },
    ...toolNames.slice(0, 9).map((name) => allow(`users-${name}`, name, { subjects: ["user-1"] })),
    ...toolNames.slice(9, 18).map((name) => allow(`admins-${name}`, name, { groups: ["admins"] })),
    allow("ping", "ping", { subjects: ["user-1"], client_ids: ["bench-client"] }),
  ],
}

/** The policy file (JSON, which the gateway reads as it reads YAML). */
export const policyText = (): string => `${JSON.stringify(policy, null, 2)}\n`

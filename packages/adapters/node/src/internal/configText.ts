/**
 * The gateway's configuration table as text: `oidc-proxy --help` and the README's Markdown table.
 *
 * Internal (used by `GatewayConfig`, which passes its table in). Both are derived from the same
 * entries, so a variable's default, allowed values and secrecy are written once.
 *
 * @since 0.1.0
 */
import type { Variable } from "../GatewayConfig.ts"

/** The default as shown: the literal, a description of a derived one, or required/unset. */
export const defaultOf = (variable: Variable<unknown, unknown>): string =>
  variable.defaultText ??
  (variable.default === undefined ? (variable.required ? "(required)" : "(unset)") : variable.default)

/** `--help`: usage, then each variable with its description, allowed values and default. */
export const help = (list: ReadonlyArray<Variable<unknown, unknown>>): string => {
  const width = Math.max(...list.map((x) => x.name.length))
  const pad = " ".repeat(width)
  const lines = list.map((x) => {
    const shown = defaultOf(x)
    return [
      `  ${x.name.padEnd(width)}  ${x.description}${x.secret ? " (secret: never printed)" : ""}`,
      ...(x.values === undefined ? [] : [`  ${pad}  one of: ${x.values.join(", ")}`]),
      `  ${pad}  default: ${shown === "" ? '""' : shown}`,
    ].join("\n")
  })
  return [
    "oidc-proxy — an OAuth 2.1 / OpenID Connect proxy in front of an MCP server",
    "",
    "Usage: oidc-proxy [--help]     start the gateway",
    "       oidc-proxy check        validate the configuration, the upstream IdP and the store, then exit",
    "",
    "Configured from the environment; an unknown OIDC_PROXY_* variable stops the start:",
    "",
    ...lines,
    "",
  ].join("\n")
}

const code = (s: string) => `\`${s}\``

/** The README's table: one row per variable, in table order. */
export const markdownTable = (list: ReadonlyArray<Variable<unknown, unknown>>): string =>
  [
    "| variable | default | meaning |",
    "|---|---|---|",
    ...list.map((x) => {
      const shown = defaultOf(x)
      const cell = shown === "" ? '`""`' : shown.startsWith("(") || x.defaultText ? shown : code(shown)
      const meaning = [
        x.description,
        ...(x.values === undefined ? [] : [`one of ${x.values.map(code).join(", ")}`]),
        ...(x.secret ? ["secret, never printed"] : []),
      ].join("; ")
      return `| ${code(x.name)} | ${cell} | ${meaning.replace(/\|/g, "\\|")} |`
    }),
  ].join("\n")

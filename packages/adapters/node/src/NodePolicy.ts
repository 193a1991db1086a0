/**
 * The gateway's MCP policy file (`OIDC_PROXY_POLICY`): read from disk, parsed as YAML (JSON is
 * YAML too), decoded with core's `McpPolicy` Schema, and swapped on reload only when the new file
 * decodes — a bad reload keeps the policy in force and says why.
 *
 * Adapter (file system). Every message names the file, the line and the field, never more of the
 * file than the offending key.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { McpPolicy } from "@oidc-proxy/core"
import { Result } from "effect"
import { isMap, isSeq, LineCounter, parseDocument } from "yaml"

/**
 * The file's largest accepted size: a policy is configuration, not data.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxFileBytes = 1024 * 1024

type Node = { readonly range?: readonly [number, number, number] | null | undefined }

/** The deepest node of `path` present in the document: a missing key is reported at its parent. */
const nodeAt = (
  doc: ReturnType<typeof parseDocument>,
  path: ReadonlyArray<string | number>,
): Node | undefined => {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)
    if (node !== undefined && node !== null && typeof node === "object" && "range" in node)
      return node as Node
  }
  return undefined
}

const fieldOf = (path: ReadonlyArray<string | number>): string =>
  path.length === 0
    ? "(root)"
    : path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("")

/**
 * Parses and decodes a policy file's text. Fails with one message per problem, each
 * `<file>:<line>: <field>: <reason>`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (text: string, file: string): Result.Result<McpPolicy.Policy, ReadonlyArray<string>> => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  if (doc.errors.length > 0)
    return Result.fail(
      doc.errors.map(
        (e) => `${file}:${lineCounter.linePos(e.pos[0]).line}: not valid YAML or JSON: ${e.code}`,
      ),
    )
  if (!isMap(doc.contents) && !isSeq(doc.contents))
    return Result.fail([`${file}:1: (root): must be a mapping with default and rules`])
  let content: unknown
  try {
    content = doc.toJS({ maxAliasCount: 100 })
  } catch {
    return Result.fail([`${file}:1: (root): too many YAML aliases`])
  }
  const decoded = McpPolicy.decode(content)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  return Result.fail(
    decoded.failure.map((issue) => {
      const offset = nodeAt(doc, issue.path)?.range?.[0] ?? 0
      return `${file}:${lineCounter.linePos(offset).line}: ${fieldOf(issue.path)}: ${issue.message}`
    }),
  )
}

/**
 * Reads and decodes the policy file at `path`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const load = (path: string): Result.Result<McpPolicy.Policy, ReadonlyArray<string>> => {
  let text: string
  try {
    const bytes = readFileSync(path)
    if (bytes.length > maxFileBytes) return Result.fail([`${path}: larger than ${maxFileBytes} bytes`])
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    return Result.fail([`${path}: cannot read${typeof code === "string" ? ` (${code})` : " (not UTF-8)"}`])
  }
  return parse(text, path)
}

/**
 * The policy in force, and its reload.
 *
 * @category models
 * @since 0.1.0
 */
export interface Source {
  readonly current: () => McpPolicy.Policy
  /** Reads the file again: the new policy when it decodes, else the old one stays and the reasons. */
  readonly reload: () => Result.Result<void, ReadonlyArray<string>>
}

/**
 * Loads the file at `path`; fails with the reasons when it does not decode (the gateway does not
 * start without the policy it was told to enforce).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (path: string): Result.Result<Source, ReadonlyArray<string>> =>
  Result.map(load(path), (first) => {
    let policy = first
    return {
      current: () => policy,
      reload: () =>
        Result.map(load(path), (next) => {
          policy = next
        }),
    }
  })

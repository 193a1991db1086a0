/**
 * The MCP audit log (`OIDC_PROXY_AUDIT`): one JSON line per MCP message the gateway decided —
 * time, request id, subject, client id, method, target (tool, prompt or resource URI), decision,
 * rule, status, latency — to stdout or appended to a file. Never a token, never arguments.
 *
 * Adapter (file system / stdout). The file is opened once, at start (an unwritable path stops the
 * start naming the variable); file lines are written synchronously so none is lost at exit.
 *
 * @since 0.1.0
 */
import { closeSync, openSync, writeSync } from "node:fs"
import type { AuditSpec } from "./internal/parsers.ts"
import type * as McpGate from "./McpGate.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface McpAudit {
  readonly write: (time: number, requestId: string | undefined, record: McpGate.Record) => void
  readonly close: () => void
}

/**
 * The span attributes of a body's records (the first message; `mcp.batch_size` for a batch).
 *
 * @category constructors
 * @since 0.1.0
 */
export const spanAttributes = (records: ReadonlyArray<McpGate.Record>): Record<string, string | number> => {
  const first = records[0]
  if (first === undefined) return {}
  return {
    "enduser.id": first.subject,
    "oauth.client_id": first.client_id,
    ...(first.method === null ? {} : { "mcp.method.name": first.method }),
    ...(first.target === null ? {} : { "mcp.target": first.target }),
    "mcp.decision": first.decision,
    "mcp.rule": first.rule,
    ...(records.length > 1 ? { "mcp.batch_size": records.length } : {}),
  }
}

/**
 * One audit line (no trailing newline).
 *
 * @category constructors
 * @since 0.1.0
 */
export const line = (time: number, requestId: string | undefined, r: McpGate.Record): string =>
  JSON.stringify({
    type: "mcp_audit",
    time: new Date(time).toISOString(),
    ...(requestId === undefined ? {} : { request_id: requestId }),
    subject: r.subject,
    client_id: r.client_id,
    method: r.method,
    target: r.target,
    decision: r.decision,
    rule: r.rule,
    status: r.status,
    latency_ms: r.latency_ms,
  })

/**
 * Opens the audit sink; `undefined` when off. Throws naming `OIDC_PROXY_AUDIT` when the file
 * cannot be opened for appending.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (spec: AuditSpec): McpAudit | undefined => {
  if (spec._tag === "off") return undefined
  if (spec._tag === "stdout")
    return {
      write: (time, requestId, record) => {
        process.stdout.write(`${line(time, requestId, record)}\n`)
      },
      close: () => undefined,
    }
  let fd: number
  try {
    fd = openSync(spec.path, "a", 0o600)
  } catch (error) {
    const code = (error as { code?: unknown }).code
    throw new Error(`OIDC_PROXY_AUDIT: cannot open ${spec.path} for appending (${String(code)})`)
  }
  let open = true
  return {
    write: (time, requestId, record) => {
      if (open) writeSync(fd, `${line(time, requestId, record)}\n`)
    },
    close: () => {
      if (open) closeSync(fd)
      open = false
    },
  }
}

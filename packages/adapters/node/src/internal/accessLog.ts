/**
 * The gateway's access log line, written without the Effect logger: one JSON line per request in
 * exactly the shape `Logger.consoleJson` gives `Effect.logInfo("request")` with the access-log
 * annotations (`message`, `level`, `timestamp`, `annotations`, `spans`, `fiberId`), built from a
 * template and written through one buffered writer flushed once per event-loop turn.
 *
 * Adapter (Node). Used when the log format is JSON and no OTLP exporter wants the records; every
 * other configuration goes through the Effect logger. The line carries the path only, never a
 * query string nor a header.
 *
 * @since 0.1.0
 */

/**
 * @category models
 * @since 0.1.0
 */
export interface Writer {
  /** Queues one access log line. */
  readonly line: (requestId: string, method: string, path: string, status: number, durationMs: number) => void
  /** Writes what is queued now. */
  readonly flush: () => void
}

/** A JSON string literal; the common case (printable ASCII without `"` or `\`) without `JSON.stringify`. */
const quote = (s: string): string => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(s)
  }
  return `"${s}"`
}

/**
 * A writer to `write` (default: `process.stdout`). `fiberId` keeps the field `Logger.consoleJson`
 * always has; no fiber runs the line, so it is a fixed `#0`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  write: (chunk: string) => void = (chunk) => void process.stdout.write(chunk),
): Writer => {
  let pending = ""
  let scheduled = false
  const flush = () => {
    scheduled = false
    if (pending === "") return
    const chunk = pending
    pending = ""
    write(chunk)
  }
  return {
    line: (requestId, method, path, status, durationMs) => {
      pending += `{"message":"request","level":"INFO","timestamp":"${new Date().toISOString()}","annotations":{"request_id":${quote(requestId)},"method":${quote(method)},"path":${quote(path)},"status":${status},"duration_ms":${durationMs}},"spans":{},"fiberId":"#0"}\n`
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    flush,
  }
}

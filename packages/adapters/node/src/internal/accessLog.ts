/**
 * The gateway's access log line, written without the Effect logger: one JSON line per request in
 * exactly the shape `Logger.consoleJson` gives `Effect.logInfo("request")` with the access-log
 * annotations (`message`, `level`, `timestamp`, `annotations`, `spans`, `fiberId`), built from a
 * template and written in batches (at most every 10 ms, see `make`).
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
  /** Writes what is queued and stops (no more flush at process exit). */
  readonly close: () => void
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
 * Writers with queued lines hand them to `write` when the process exits. Best effort: a file takes
 * them synchronously, but on Linux a pipe's `process.stdout.write` is asynchronous — what does not
 * fit in the pipe's buffer at once is queued in memory and lost at exit, as for any stdout write.
 */
const open = new Set<() => void>()
let exitHooked = false
const flushAll = () => {
  for (const flush of open) flush()
}

/**
 * Queued lines are written together: when `flushMillis` have passed since the first line queued,
 * or at once when `maxPending` characters are queued, on `flush`/`close`, and at process exit.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Default: 10 ms. */
  readonly flushMillis?: number
  /** Default: 32 KiB of characters. */
  readonly maxPending?: number
  /**
   * Characters the destination has taken but not yet written (default: `process.stdout`'s
   * `writableLength` when `write` is the default, else 0). A destination that stops reading
   * (a blocked pipe) would otherwise make the process queue every line in memory.
   */
  readonly backlog?: () => number
  /** Above this backlog a batch is dropped and counted instead of queued. Default: 8 MiB. */
  readonly maxBacklog?: number
}

/**
 * A writer to `write` (default: `process.stdout`). `fiberId` keeps the field `Logger.consoleJson`
 * always has; no fiber runs the line, so it is a fixed `#0`.
 *
 * One write per batch, not per line nor per event-loop turn: a write to stdout (a pipe to the
 * container runtime, a file) is a system call in the event loop's thread, as costly as the socket
 * writes of the request itself. A line waits at most `flushMillis` (10 ms); the timestamp is the
 * time the line is queued (millisecond resolution, formatted once per millisecond).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (write?: (chunk: string) => void, options: Options = {}): Writer => {
  const out = write ?? ((chunk: string) => void process.stdout.write(chunk))
  const backlog = options.backlog ?? (write === undefined ? () => process.stdout.writableLength : () => 0)
  const maxBacklog = options.maxBacklog ?? 8 * 1024 * 1024
  const flushMillis = options.flushMillis ?? 10
  const maxPending = options.maxPending ?? 32 * 1024
  let pending = ""
  let pendingLines = 0
  let dropped = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let lastMillis = 0
  let lastTimestamp = ""
  const flush = () => {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    if (pending === "") return
    const chunk = pending
    const lines = pendingLines
    pending = ""
    pendingLines = 0
    // Bounded memory over complete lines: a destination that does not keep up loses whole batches,
    // counted, and the count is written as a warning line once it keeps up again.
    if (backlog() > maxBacklog) {
      dropped += lines
      return
    }
    if (dropped > 0) {
      out(
        `{"message":"access log lines dropped: the log destination did not keep up","level":"WARN","timestamp":"${new Date().toISOString()}","annotations":{"dropped":${dropped}},"spans":{},"fiberId":"#0"}\n`,
      )
      dropped = 0
    }
    out(chunk)
  }
  const onTimer = () => {
    timer = undefined
    flush()
  }
  open.add(flush)
  if (!exitHooked) {
    exitHooked = true
    process.once("exit", flushAll)
  }
  return {
    line: (requestId, method, path, status, durationMs) => {
      const now = Date.now()
      if (now !== lastMillis) {
        lastMillis = now
        lastTimestamp = new Date(now).toISOString()
      }
      pendingLines++
      pending += `{"message":"request","level":"INFO","timestamp":"${lastTimestamp}","annotations":{"request_id":${quote(requestId)},"method":${quote(method)},"path":${quote(path)},"status":${status},"duration_ms":${durationMs}},"spans":{},"fiberId":"#0"}\n`
      if (pending.length >= maxPending) flush()
      else if (timer === undefined) {
        timer = setTimeout(onTimer, flushMillis)
        // Not a reason to keep the process alive: `close` and the exit hook write what is left.
        timer.unref()
      }
    },
    flush,
    close: () => {
      flush()
      open.delete(flush)
    },
  }
}

/**
 * `McpListFilter` over a Streamable HTTP response body in `text/event-stream` form: the byte
 * stream is cut into events incrementally, an event whose `data` holds a list answer (to a pending
 * list request, or any result with list members) is rewritten, every other event passes through
 * byte for byte.
 *
 * Pure core: a state machine over byte chunks (no I/O, no timers); the gateway wraps it in a
 * stream. Lines end at CRLF, LF or CR, wherever the chunks are cut (also inside a CRLF or a
 * multi-byte UTF-8 sequence: events are decoded whole). An event is held until its blank line,
 * at most `maxEventBytes`; a longer one cannot be filtered, so the stream ends there with a
 * JSON-RPC error event for every list request still unanswered (the client sees why). Every event
 * is filtered to the stream's end, also once the pending requests are answered: the server may
 * send another request's list answer later on the same stream (`McpListFilter`). With `"any"` (a
 * GET stream) an over-long event ends the stream with no error event (no request id is known).
 *
 * @see [HTML: server-sent events, parsing an event stream](https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream)
 * @since 0.1.0
 */
import { answered, type Expected, filterMessage, type Permission, serialize } from "./McpListFilter.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface EventStreamFilter {
  /** The bytes to send on for `chunk` (events completed by it; after the end, nothing). */
  readonly push: (chunk: Uint8Array) => ReadonlyArray<Uint8Array>
  /** The bytes still held when the stream ends (an unterminated last event, filtered). */
  readonly end: () => ReadonlyArray<Uint8Array>
  /** An event exceeded the bound: the error events were sent, the stream is to be closed. */
  readonly overflowed: () => boolean
}

const LF = 10
const CR = 13
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const concat = (pieces: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (pieces.length === 1) return pieces[0]!
  const out = new Uint8Array(size)
  let at = 0
  for (const piece of pieces) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}

/** The field name and value of one event line (`undefined` for a comment). */
const field = (line: string): readonly [string, string] | undefined => {
  if (line.startsWith(":")) return undefined
  const colon = line.indexOf(":")
  if (colon < 0) return [line, ""]
  const value = line.slice(colon + 1)
  return [line.slice(0, colon), value.startsWith(" ") ? value.slice(1) : value]
}

/**
 * One whole event: the same bytes, or the event rewritten with its `data` filtered; the pending
 * requests it answers are removed from `open`.
 */
const filterEvent = (
  raw: Uint8Array,
  open: Map<string, unknown>,
  pending: Expected,
  allow: Permission,
): Uint8Array => {
  let text = decoder.decode(raw)
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split(/\r\n|\r|\n/).filter((line) => line !== "")
  const data = lines.flatMap((line) => {
    const f = field(line)
    return f !== undefined && f[0] === "data" ? [f[1]] : []
  })
  if (data.length === 0) return raw
  let message: unknown
  try {
    message = JSON.parse(data.join("\n"))
  } catch {
    return raw
  }
  if (pending !== "any") for (const key of answered(message, pending)) open.delete(key)
  const filtered = filterMessage(message, pending, allow)
  if (filtered === message) return raw
  let written = false
  const kept = lines.flatMap((line) => {
    if (field(line)?.[0] !== "data") return [line]
    if (written) return []
    written = true
    return [`data: ${serialize(filtered, message, pending)}`]
  })
  return encoder.encode(`${kept.join("\n")}\n\n`)
}

/** The JSON-RPC error event for a list request whose answer could not be filtered. */
const overflowEvent = (key: string, maxEventBytes: number): Uint8Array => {
  const id = key.startsWith("s") ? key.slice(1) : Number(key.slice(1))
  const error = {
    jsonrpc: "2.0",
    id,
    error: {
      code: -32603,
      message: `The gateway cannot filter an event longer than ${maxEventBytes} bytes`,
    },
  }
  return encoder.encode(`event: message\ndata: ${JSON.stringify(error)}\n\n`)
}

/**
 * A filter for one response stream answering the list requests `pending` (or `"any"`, a GET
 * stream) for a caller allowed `allow`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (pending: Expected, allow: Permission, maxEventBytes: number): EventStreamFilter => {
  const open = new Map<string, unknown>(
    pending === "any" ? [] : [...pending.keys()].map((key) => [key, undefined]),
  )
  let held: Array<Uint8Array> = []
  let heldBytes = 0
  let lineLength = 0
  let lastCR = false
  let eventEndedOnCR = false
  let overflowed = false

  const flush = (out: Array<Uint8Array>) => {
    const raw = concat(held, heldBytes)
    held = []
    heldBytes = 0
    if (raw.length > 0) out.push(filterEvent(raw, open, pending, allow))
  }

  const push = (chunk: Uint8Array): ReadonlyArray<Uint8Array> => {
    if (overflowed) return []
    const out: Array<Uint8Array> = []
    let start = 0
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!
      if (byte === LF && lastCR) {
        lastCR = false
        // The LF of a CRLF whose CR ended an event: it belongs to that event, already sent.
        if (eventEndedOnCR && i === start && heldBytes === 0) {
          out.push(chunk.subarray(i, i + 1))
          start = i + 1
        }
        eventEndedOnCR = false
        continue
      }
      eventEndedOnCR = false
      lastCR = byte === CR
      if (byte !== LF && byte !== CR) {
        lineLength++
        if (heldBytes + (i + 1 - start) > maxEventBytes) {
          overflowed = true
          held = []
          heldBytes = 0
          for (const key of open.keys()) out.push(overflowEvent(key, maxEventBytes))
          return out
        }
        continue
      }
      const blank = lineLength === 0
      lineLength = 0
      if (!blank) continue
      held.push(chunk.subarray(start, i + 1))
      heldBytes += i + 1 - start
      start = i + 1
      eventEndedOnCR = byte === CR
      flush(out)
    }
    if (start < chunk.length) {
      held.push(chunk.subarray(start))
      heldBytes += chunk.length - start
    }
    return out
  }

  const end = (): ReadonlyArray<Uint8Array> => {
    if (overflowed) return []
    const out: Array<Uint8Array> = []
    flush(out)
    return out
  }

  return { push, end, overflowed: () => overflowed }
}

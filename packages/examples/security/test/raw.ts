/**
 * Raw HTTP/1.1 for the security battery: fast-check generators of whole requests as bytes — the
 * request line (methods, the four request-target forms, `//`, percent-encodings valid and broken,
 * dot-segments plain and encoded, NUL, overlong targets), the header section (missing, repeated or
 * foreign `Host`, obs-fold, bare LF, oversized fields, the bearer valid or not) and the body
 * framing (`Content-Length`, chunked with extensions, trailers, bad sizes or truncation, both
 * headers at once, duplicated lengths), each body carrying a second, authorized request that must
 * never reach the target as a request of its own — and an exchange over `node:net` that reads
 * every answer the server writes on the connection.
 *
 * Test support. Every case knows whether a correct server forwards it (`forwards`) and whether
 * its bearer is valid (`authorized`); the properties are checked in `RawHttp.test.ts`.
 */
import { connect } from "node:net"
import * as fc from "fast-check"

/** What a case is built against: the gateway's address and a valid bearer. */
export interface Context {
  /** `127.0.0.1:port` of the gateway. */
  readonly host: string
  readonly token: string
  /** Sent as `X-Case`, so the target's records name the case that carried them. */
  readonly id: string
}

/** A generated case: bytes to send and what a correct gateway does with them. */
export interface Case {
  readonly bytes: (context: Context) => string
  /** Every part is one a correct gateway forwards (exactly one request reaches the target). */
  readonly forwards: boolean
  /** The bearer is valid (the only cases allowed to reach the target at all). */
  readonly authorized: boolean
  /** A short description for failure messages. */
  readonly label: string
}

/** The header every smuggled request carries: the target must never see it as a field. */
export const smuggledMarker = "x-smuggled"

interface Part {
  readonly text: string
  /** A correct gateway still forwards a request with this part. */
  readonly ok: boolean
}

const part = (text: string, ok = false): Part => ({ text, ok })

// --- request line -------------------------------------------------------------------------------

const forwardedMethods = ["GET", "POST", "DELETE"]

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...forwardedMethods) },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "HEAD",
      "OPTIONS",
      "PUT",
      "PATCH",
      "TRACE",
      "TRACK",
      "CONNECT",
      "PROPFIND",
      "get",
      "Post",
      "FOO",
      "M-SEARCH",
      "G\tET",
      "",
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,12}$/) },
)

const segment = fc.constantFrom(
  "sub",
  "..",
  ".",
  "%2e%2e",
  "%2E.",
  ".%2e",
  "%2e",
  "",
  "%2f",
  "%2F..",
  "%00",
  "%zz",
  "%",
  "%4",
  "%41",
  "a%20b",
  "\u0000",
  "token",
  "evil.example",
  "@evil.example",
  ";x=1",
  "%5c..",
  "\\..",
)

const query = fc.constantFrom("", "", "?a=1", "?%zz", "?x=../..", "?a=%00", "?#frag", "?q=//evil.example/")

/** Request-targets in origin-, absolute-, authority- and asterisk-form; `ok`: forwarded as is. */
const requestTarget = (host: string) => {
  const clean = fc.tuple(
    fc.constantFrom("/mcp", "/mcp/sub", "/mcp/a/b"),
    fc.constantFrom("", "?a=1", "?x=y&z=1"),
  )
  return fc.oneof(
    { weight: 6, arbitrary: clean.map(([p, q]) => part(`${p}${q}`, true)) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(fc.constantFrom("/mcp", "", "/", "//", "/mcp/"), fc.array(segment, { maxLength: 4 }), query)
        .map(([start, segments, q]) => part(`${start}/${segments.join("/")}${q}`)),
    },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(
          "//",
          "///",
          "//mcp",
          "//evil.example/mcp",
          "//127.0.0.1/mcp",
          "//:80/mcp",
          "//@/mcp",
          "/%6dcp",
          "/MCP",
          "/mcp%2f..%2ftoken",
          "/mcp/..;/token",
          "/mcp#x",
          "mcp",
          "*",
          "evil.example:443",
          `${host}`,
          `http://evil.example/mcp`,
          `http://${host}@evil.example/mcp`,
          `http://evil.example@${host}/mcp`,
          `https://${host}/mcp`,
          `HTTP://${host}/mcp`,
          `http://${host}/mcp/../token`,
          `http://${host}//evil.example/mcp`,
          `http:/mcp`,
        )
        .map((t) => part(t)),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(8_000, 17_000, 70_000).map((n) => part(`/mcp/${"a".repeat(n)}`)),
    },
  )
}

// --- headers ------------------------------------------------------------------------------------

/** `Host` forms: once and right (`ok`), missing, twice, foreign, empty, with a path. */
const hostField = (host: string) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(part(`Host: ${host}\r\n`, true)) },
    {
      weight: 3,
      arbitrary: fc
        .constantFrom(
          "",
          `Host: ${host}\r\nHost: ${host}\r\n`,
          `Host: ${host}\r\nHost: evil.example\r\n`,
          "Host: evil.example\r\n",
          "Host: \r\n",
          `Host: ${host}/mcp\r\n`,
          `Host: ${host}@evil.example\r\n`,
          `Host : ${host}\r\n`,
          `Host:\t${host}\r\n`,
          `host: ${host}, evil.example\r\n`,
        )
        .map((h) => part(h)),
    },
  )

/** The bearer: valid (`ok`), missing, wrong, repeated, or in another scheme. */
const authorization = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constant({ field: (t: string) => `Authorization: Bearer ${t}\r\n`, valid: true }),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      { field: (_: string) => "", valid: false },
      { field: (t: string) => `Authorization: Bearer ${t}x\r\n`, valid: false },
      { field: (t: string) => `Authorization: Bearer ${t.slice(0, -2)}\r\n`, valid: false },
      { field: (t: string) => `Authorization: Basic ${t}\r\n`, valid: false },
      { field: (t: string) => `Authorization: Bearer ${t}\r\nAuthorization: Bearer x\r\n`, valid: false },
      { field: (t: string) => `Authorization: Bearer x\r\nAuthorization: Bearer ${t}\r\n`, valid: false },
      { field: (t: string) => `Authorization: Bearer ${t}, Bearer x\r\n`, valid: false },
      { field: (t: string) => `Authorization: Bearer\r\n ${t}\r\n`, valid: false },
      { field: (t: string) => `X-Authorization: Bearer ${t}\r\n`, valid: false },
      { field: (t: string) => `Authorization: Bearer ${t}\u0000\r\n`, valid: false },
    ),
  },
)

/** Other fields: none (`ok`), obs-fold, oversized, odd names, `Expect`, a browser's `Origin`. */
const extraFields = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(part("", true), part("Accept: application/json\r\n", true)) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        "X-Folded: a\r\n b\r\n",
        "X-Folded: a\r\n\tb\r\n",
        `X-Big: ${"b".repeat(20_000)}\r\n`,
        `X-Many: ${"c".repeat(4_000)}\r\n`.repeat(5),
        "X Bad: 1\r\n",
        ": empty-name\r\n",
        "X-Nul: a\u0000b\r\n",
        "X-Ctl: a\u0001b\r\n",
        "Expect: 100-continue\r\n",
        "Upgrade: websocket\r\nConnection: Upgrade\r\n",
        "Connection: keep-alive, x-smuggled\r\n",
        "Origin: http://app.example\r\n",
        "Origin: null\r\n",
      )
      .map((f) => part(f)),
  },
)

// --- bodies -------------------------------------------------------------------------------------

/** A second request with a valid bearer; wherever it is put, it is inside the outer body. */
const inner = (c: Context) =>
  `POST /mcp/smuggled HTTP/1.1\r\nHost: ${c.host}\r\nAuthorization: Bearer ${c.token}\r\n${smuggledMarker}: 1\r\nContent-Length: 2\r\n\r\n{}`

const rpc = '{"jsonrpc":"2.0","id":1,"method":"ping"}'

interface Framing {
  readonly fields: (body: string) => string
  readonly body: (body: string) => string
  readonly ok: boolean
  readonly label: string
}

const hex = (s: string) => Buffer.byteLength(s, "latin1").toString(16)
const length = (s: string) => Buffer.byteLength(s, "latin1")

const chunked = (s: string) => `${hex(s)}\r\n${s}\r\n0\r\n\r\n`

const framings: ReadonlyArray<Framing> = [
  { label: "none", fields: () => "", body: () => "", ok: true },
  { label: "cl", fields: (b) => `Content-Length: ${length(b)}\r\n`, body: (b) => b, ok: true },
  { label: "chunked", fields: () => "Transfer-Encoding: chunked\r\n", body: chunked, ok: true },
  {
    label: "chunk-ext",
    fields: () => "Transfer-Encoding: chunked\r\n",
    body: (b) => `${hex(b)};name=value\r\n${b}\r\n0;last\r\n\r\n`,
    ok: true,
  },
  {
    label: "trailer",
    fields: () => "Transfer-Encoding: chunked\r\n",
    body: (b) => `${hex(b)}\r\n${b}\r\n0\r\nX-Trailer: t\r\n\r\n`,
    ok: true,
  },
  {
    label: "two-chunks",
    fields: () => "Transfer-Encoding: chunked\r\n",
    body: (b) => `1\r\n${b.slice(0, 1)}\r\n${hex(b.slice(1))}\r\n${b.slice(1)}\r\n0\r\n\r\n`,
    ok: true,
  },
  // Both framings: whichever one a parser reads, the inner request stays inside the body.
  {
    label: "cl+te",
    fields: (b) => `Content-Length: ${length(chunked(b))}\r\nTransfer-Encoding: chunked\r\n`,
    body: chunked,
    ok: false,
  },
  {
    label: "te+cl",
    fields: (b) => `Transfer-Encoding: chunked\r\nContent-Length: ${length(chunked(b))}\r\n`,
    body: chunked,
    ok: false,
  },
  ...["xchunked", "chunked, identity", "identity", " chunked", "chunked\u000b", "CHUNKED"].map(
    (te): Framing => ({
      label: `te:${JSON.stringify(te)}+cl`,
      fields: (b) => `Transfer-Encoding: ${te}\r\nContent-Length: ${length(chunked(b))}\r\n`,
      body: chunked,
      ok: false,
    }),
  ),
  {
    label: "te-space-colon+cl",
    fields: (b) => `Transfer-Encoding : chunked\r\nContent-Length: ${length(chunked(b))}\r\n`,
    body: chunked,
    ok: false,
  },
  {
    label: "te-twice",
    fields: () => "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
    body: chunked,
    ok: false,
  },
  {
    label: "cl-twice-same",
    fields: (b) => `Content-Length: ${length(b)}\r\nContent-Length: ${length(b)}\r\n`,
    body: (b) => b,
    ok: false,
  },
  {
    label: "cl-twice-differ",
    fields: (b) => `Content-Length: ${length(b)}\r\nContent-Length: 0\r\n`,
    body: (b) => b,
    ok: false,
  },
  { label: "cl-list", fields: (b) => `Content-Length: ${length(b)}, 0\r\n`, body: (b) => b, ok: false },
  { label: "cl-plus", fields: (b) => `Content-Length: +${length(b)}\r\n`, body: (b) => b, ok: false },
  { label: "cl-hex", fields: (b) => `Content-Length: 0x${hex(b)}\r\n`, body: (b) => b, ok: false },
  {
    label: "cl-short-read",
    fields: (b) => `Content-Length: ${length(b) + 100}\r\n`,
    body: (b) => b,
    ok: false,
  },
  ...["zz", "0x10", "-1", " 10", "ffffffffffffffffff", "", "1 1"].map(
    (size): Framing => ({
      label: `chunk-size:${JSON.stringify(size)}`,
      fields: () => "Transfer-Encoding: chunked\r\n",
      body: (b) => `${size}\r\n${b}\r\n0\r\n\r\n`,
      ok: false,
    }),
  ),
  {
    label: "chunk-truncated",
    fields: () => "Transfer-Encoding: chunked\r\n",
    body: (b) => `${hex(b)}\r\n${b}\r\n`,
    ok: false,
  },
  {
    label: "chunk-bare-lf",
    fields: () => "Transfer-Encoding: chunked\r\n",
    body: (b) => `${hex(b)}\n${b}\n0\n\n`,
    ok: false,
  },
  {
    label: "chunk-data-longer",
    fields: () => "Transfer-Encoding: chunked\r\n",
    body: (b) => `1\r\n${b}\r\n0\r\n\r\n`,
    ok: false,
  },
]

const payload = fc.constantFrom<"rpc" | "smuggle">("rpc", "smuggle")

// --- a case -------------------------------------------------------------------------------------

/** Cases against `host` (`127.0.0.1:port`); the bearer is filled in at send time. */
export const rawCase = (host: string): fc.Arbitrary<Case> =>
  fc
    .record({
      method,
      target: requestTarget(host),
      host: hostField(host),
      auth: authorization,
      extra: extraFields,
      framing: fc.constantFrom(...framings),
      payload,
      bareLf: fc.oneof(
        { weight: 9, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    })
    .map((g): Case => {
      const withBody = g.framing.label !== "none"
      const forwards =
        forwardedMethods.includes(g.method) &&
        g.target.ok &&
        g.host.ok &&
        g.auth.valid &&
        g.extra.ok &&
        g.framing.ok &&
        !g.bareLf
      return {
        forwards,
        authorized: g.auth.valid,
        label: `${g.method} ${g.target.text.slice(0, 80)} | ${JSON.stringify(g.host.text)} | auth ${g.auth.valid} | ${JSON.stringify(g.extra.text.slice(0, 60))} | ${g.framing.label} ${g.payload}${g.bareLf ? " | bare LF" : ""}`,
        bytes: (c) => {
          const content = g.payload === "smuggle" ? inner(c) : rpc
          const fields =
            `X-Case: ${c.id}\r\n` +
            g.host.text +
            g.auth.field(c.token) +
            g.extra.text +
            (withBody ? `Content-Type: application/json\r\n${g.framing.fields(content)}` : "") +
            // The server closes after its answer; the exchange does not half-close (see `exchange`).
            "Connection: close\r\n"
          const head = `${g.method} ${g.target.text} HTTP/1.1\r\n${fields}\r\n`
          return (g.bareLf ? head.replaceAll("\r\n", "\n") : head) + (withBody ? g.framing.body(content) : "")
        },
      }
    })

/** The configured target path or below it, with nothing a decoding target would read otherwise. */
export const onTargetPath = (url: string): boolean => {
  const q = url.indexOf("?")
  const path = q < 0 ? url : url.slice(0, q)
  // Below `/mcp/` an empty segment (`/mcp//x`) is passed as sent: only a leading `//` reads as an authority.
  if (path !== "/mcp" && !path.startsWith("/mcp/")) return false
  return path.split("/").every((raw) => {
    let s: string
    try {
      s = decodeURIComponent(raw)
    } catch {
      return false
    }
    // An encoded `/` or `\` (`%2F`, `%5C`) is refused at the edge: a segment never decodes to one.
    return s !== "." && s !== ".." && !s.includes("\0") && !s.includes("/") && !s.includes("\\")
  })
}

// --- the exchange -------------------------------------------------------------------------------

/** What came back on one connection: the status of every answer, in order. */
export interface Exchanged {
  readonly statuses: ReadonlyArray<number>
  readonly text: string
}

/**
 * Writes `bytes` to 127.0.0.1:`port` and reads until the server closes. The write side stays open
 * while the server works: Node's HTTP server drops a request in flight when its client half-closes
 * (no answer, though the request was forwarded). Only a server still waiting for bytes after
 * `idleMs` (a body shorter than its length) gets the half-close; at `timeoutMs` the socket is
 * destroyed. Statuses are read from status lines at the start of the stream and after each
 * answer's blank line; the gateway's bodies are JSON and never start with `HTTP/1.1`.
 */
export const exchange = (
  port: number,
  bytes: string,
  idleMs = 1_000,
  timeoutMs = 5_000,
): Promise<Exchanged> =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    const idle = setTimeout(() => socket.end(), idleMs)
    const timer = setTimeout(() => socket.destroy(), timeoutMs)
    socket.on("data", (chunk: Buffer) => {
      clearTimeout(idle)
      chunks.push(chunk)
    })
    socket.on("error", () => {
      // a reset after (or instead of) an answer: `close` follows and reports what arrived
    })
    socket.on("close", () => {
      clearTimeout(idle)
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString("latin1")
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
      resolve({ statuses, text })
    })
    socket.write(bytes, "latin1")
  })

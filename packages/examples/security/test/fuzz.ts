/**
 * fast-check arbitraries for the HTTP fuzzer: random requests to every endpoint, and mutations of
 * valid requests (a character flipped, dropped or added in a code, verifier, token or cookie; a
 * field removed, repeated or replaced), plus the invariant every answer must keep.
 */
import * as fc from "fast-check"
import { expect } from "vitest"
import { assertNoSecrets, issuer, type ProxyUnderTest, type Sent } from "./support.ts"

export const endpoints = [
  "/.well-known/oauth-authorization-server",
  "/.well-known/openid-configuration",
  "/.well-known/oauth-protected-resource/mcp",
  "/register",
  "/authorize",
  "/consent",
  "/auth/callback",
  "/token",
  "/revoke",
  "/mcp",
  "/mcp/tools/call",
  "/jwks",
] as const

const printable = fc.stringMatching(/^[\x20-\x7e]{0,120}$/)
const tokenish = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._~+/=-]{0,300}$/),
  fc
    .tuple(
      fc.base64String({ maxLength: 80 }),
      fc.base64String({ maxLength: 200 }),
      fc.base64String({ maxLength: 80 }),
    )
    .map(([a, b, c]) => `eyJ${a}.eyJ${b}.${c}`.replace(/=/g, "")),
)

const method = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("GET", "POST") },
  { weight: 2, arbitrary: fc.constantFrom("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,10}$/) },
)

const path = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...endpoints) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(...endpoints),
        fc.constantFrom("/", "//", "/..", "/%2e%2e", "/x", "%00", "/../token", ";a=b"),
      )
      .map(([e, s]) => `${e}${s}`),
  },
  { weight: 1, arbitrary: fc.webPath() },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom("..", ".", "%2e", "%2F", "mcp", "token", "a"), { maxLength: 6 })
      .map((s) => `/${s.join("/")}`),
  },
)

const paramNames = [
  "client_id",
  "client_secret",
  "redirect_uri",
  "response_type",
  "code_challenge",
  "code_challenge_method",
  "code_verifier",
  "state",
  "scope",
  "resource",
  "code",
  "grant_type",
  "refresh_token",
  "token",
  "token_type_hint",
  "transaction",
  "csrf",
  "decision",
  "iss",
  "error",
]

const paramValue = fc.oneof(
  printable,
  tokenish,
  fc.string({ maxLength: 60 }),
  fc.constantFrom(
    "",
    "code",
    "S256",
    "plain",
    "authorization_code",
    "refresh_token",
    "approve",
    "deny",
    "javascript:alert(1)",
    "https://evil.example/cb",
    "https://app.example/callback",
    "../../etc/passwd",
    "' OR 1=1 --",
    "__proto__",
    "%00",
    "\u0000",
    "a".repeat(5000),
  ),
)

export const params = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...paramNames), printable), paramValue), {
  maxLength: 8,
})

const contentType = fc.constantFrom(
  "application/x-www-form-urlencoded",
  "application/x-www-form-urlencoded; charset=utf-8",
  "application/json",
  "text/plain",
  "multipart/form-data; boundary=x",
  "application/JSON",
  "",
)

const authorization = fc.oneof(
  fc
    .tuple(fc.constantFrom("Bearer", "bearer", "Basic", "DPoP", "Digest", "MAC", "X"), tokenish)
    .map(([s, t]) => `${s} ${t}`),
  fc
    .tuple(printable, printable)
    .map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`, "latin1").toString("base64")}`),
  printable,
)

const cookie = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom("oidcp_browser", "oidcp_tx_0123456789abcdef"),
        fc.stringMatching(/^[A-Za-z0-9_]{1,20}$/),
      ),
      fc.stringMatching(/^[\x21-\x3a\x3c-\x7e]{0,80}$/),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join("; "))

const headers = fc.record(
  {
    "content-type": contentType,
    authorization,
    cookie,
    "content-length": fc.oneof(fc.nat().map(String), fc.constantFrom("-1", "abc", "99999999999")),
    origin: fc.constantFrom("https://evil.example", "null", issuer),
    "x-forwarded-host": fc.constantFrom("evil.example", "proxy.test"),
  },
  { requiredKeys: [] },
)

const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 400 }),
  fc.json({ maxDepth: 3 }),
  params.map((ps) => new URLSearchParams(ps).toString()),
  fc.string({ maxLength: 400 }),
)

/** A random request to one of the proxy's endpoints (or near them). */
export const randomRequest = fc
  .record({ method, path, query: params, headers, body })
  .map(({ method, path, query, headers, body }) => {
    const url = `${issuer}${path}${query.length === 0 ? "" : `?${new URLSearchParams(query)}`}`
    const hasBody = body !== undefined && method !== "GET" && method !== "HEAD"
    const { "content-length": _, ...rest } = headers
    return () =>
      new Request(url, {
        method,
        headers: rest,
        ...(hasBody ? { body: typeof body === "string" ? body : (body as Uint8Array<ArrayBuffer>) } : {}),
      })
  })

/** `s` without control characters (which no header value may carry). */
export const withoutControls = (s: string): string =>
  [...s].filter((c) => c >= " " && c !== "\u007f").join("")

/** One mutation of a string (never the identity). */
export const mutateString = (value: string) =>
  fc
    .tuple(
      fc.constantFrom("flip", "drop", "insert", "truncate", "double", "upper", "empty", "random", "space"),
      fc.nat(),
      fc.constantFrom(..."AZaz09-._~+/=%\u00e9 \u0000"),
      printable,
    )
    .map(([op, n, ch, random]) => {
      const i = value.length === 0 ? 0 : n % value.length
      const flipped = ch === value[i] ? (ch === "A" ? "B" : "A") : ch
      const out = ((): string => {
        switch (op) {
          case "flip":
            return `${value.slice(0, i)}${flipped}${value.slice(i + 1)}`
          case "drop":
            return `${value.slice(0, i)}${value.slice(i + 1)}`
          case "insert":
            return `${value.slice(0, i)}${ch}${value.slice(i)}`
          case "truncate":
            return value.slice(0, i)
          case "double":
            return `${value}${value}`
          case "upper":
            return value.toUpperCase() === value ? value.toLowerCase() : value.toUpperCase()
          case "empty":
            return ""
          case "space":
            return ` ${value}`
          default:
            return random
        }
      })()
      return out === value ? `${value}x` : out
    })

/** A template form/query with one field mutated, removed or repeated. */
export const mutateFields = (fields: Readonly<Record<string, string>>, only?: ReadonlyArray<string>) => {
  const names = only ?? Object.keys(fields)
  return fc.constantFrom(...names).chain((name) =>
    fc.oneof(
      {
        weight: 6,
        arbitrary: mutateString(fields[name] ?? "").map(
          (v): Array<[string, string]> => entries(fields, name, [v]),
        ),
      },
      { weight: 1, arbitrary: fc.constant(entries(fields, name, [])) },
      {
        weight: 1,
        arbitrary: fc.constant(entries(fields, name, [fields[name] ?? "", fields[name] ?? ""])),
      },
    ),
  )
}

const entries = (fields: Readonly<Record<string, string>>, name: string, values: ReadonlyArray<string>) => {
  const out: Array<[string, string]> = []
  for (const [k, v] of Object.entries(fields)) {
    if (k === name) for (const x of values) out.push([k, x])
    else out.push([k, v])
  }
  return out
}

/** A cookie jar with one value mutated (or the jar dropped). */
export const mutateCookies = (jar: Readonly<Record<string, string>>) => {
  const names = Object.keys(jar)
  if (names.length === 0) return fc.constant("")
  return fc.oneof(
    fc.constant(""),
    fc.constantFrom(...names).chain((name) =>
      mutateString(jar[name]!).map((v) => {
        // A cookie value cannot carry `;`, whitespace or NUL; what remains must still differ.
        const clean = withoutControls(v).replace(/[;\s]/g, "")
        const mutated = clean === jar[name] ? `${clean}x` : clean
        return names.map((k) => `${k}=${k === name ? mutated : jar[k]!}`).join("; ")
      }),
    ),
  )
}

export interface Counters {
  requests: number
  rejected: number
}

/**
 * Sends `request` and checks the invariants: no 5xx (503 only when `outage`), no secret, token or
 * stack trace in an error body, and no store write for a rejected (4xx) request.
 */
export const sendChecked = async (
  proxy: ProxyUnderTest,
  request: Request,
  counters: Counters,
  options: { readonly outage?: boolean } = {},
): Promise<Sent> => {
  const writes = (await proxy.writes()).length
  const res = await proxy.send(request)
  counters.requests++
  if (res.status >= 500 && !(options.outage === true && res.status === 503)) {
    throw new Error(
      `${request.method} ${new URL(request.url).pathname} answered ${res.status}: ${res.text.slice(0, 200)}`,
    )
  }
  if (res.status >= 300 || res.status === 204) assertNoSecrets(proxy, res.text)
  else expect(res.text).not.toMatch(/\n\s+at |Error:/)
  if (res.status >= 400 && options.outage !== true) {
    counters.rejected++
    const after = await proxy.writes()
    if (after.length !== writes) {
      throw new Error(
        `${request.method} ${new URL(request.url).pathname} was refused (${res.status} ${res.text.slice(0, 120)}) but wrote ${JSON.stringify(after.slice(writes).map((w) => w.operation))}`,
      )
    }
  }
  return res
}

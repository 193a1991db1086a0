/**
 * Parsers for environment variable values: text in, a value or a short reason out.
 *
 * Internal (used by `GatewayConfig`). A reason never contains the value itself, so a caller can
 * decide whether to show it (never for secrets).
 *
 * @since 0.1.0
 */
import { TrustedProxies } from "@oidc-proxy/http"
import { type LogLevel, Redacted, Result } from "effect"

import { suggest } from "./suggest.ts"

/** Text in, a value or a reason out. `values`: the enumerated values, when the setting has a fixed set. */
export interface Parser<A> {
  (raw: string): Result.Result<A, string>
  readonly values?: ReadonlyArray<string>
}

/** A parser over a fixed set of words; refuses others naming the allowed ones and the closest. */
const enumerated = <A>(values: ReadonlyArray<string>, lookup: (word: string) => A | undefined): Parser<A> =>
  Object.assign(
    (raw: string): Result.Result<A, string> => {
      const found = lookup(raw.trim())
      if (found !== undefined) return Result.succeed(found)
      const near = suggest(raw.trim(), values)
      return Result.fail(
        `must be one of ${values.join(", ")}${near === undefined ? "" : `; did you mean ${near}?`}`,
      )
    },
    { values },
  )

/** A `host:port` to bind. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

/** Where the proxy's state lives. */
export type StoreSpec =
  | { readonly _tag: "sqlite"; readonly filename: string }
  | { readonly _tag: "memory" }
  | { readonly _tag: "redis"; readonly url: string }
  | { readonly _tag: "postgres"; readonly url: string }

const absoluteUrl = (raw: string): URL | undefined => {
  try {
    return new URL(raw)
  } catch {
    return undefined
  }
}

export const httpUrl: Parser<URL> = (raw) => {
  const url = absoluteUrl(raw)
  if (url === undefined) return Result.fail("must be an absolute URL")
  if (url.protocol !== "http:" && url.protocol !== "https:") return Result.fail("must be an http(s) URL")
  return Result.succeed(url)
}

/**
 * The target's URL: an http(s) URL without credentials. `fetch` refuses a URL with credentials
 * and undici's pool would drop them, so the two forward paths could not agree on one.
 */
export const targetUrl: Parser<URL> = (raw) =>
  Result.flatMap(httpUrl(raw), (url) =>
    url.username !== "" || url.password !== ""
      ? Result.fail("must not contain credentials (user:password@)")
      : Result.succeed(url),
  )

/**
 * An endpoint the client secret is sent to: https, or http on a loopback host (development), with
 * no credentials, query or fragment.
 */
export const secretEndpoint: Parser<URL> = (raw) =>
  Result.flatMap(httpUrl(raw.trim()), (url) => {
    const loopback = ["127.0.0.1", "[::1]", "localhost"].includes(url.hostname)
    if (url.protocol === "http:" && !loopback)
      return Result.fail("must be https (http only on a loopback host)")
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "")
      return Result.fail("must not contain credentials, a query or a fragment")
    return Result.succeed(url)
  })

/** An http(s) URL kept exactly as written (an issuer is compared character for character). */
export const httpUrlText: Parser<string> = (raw) => Result.map(httpUrl(raw.trim()), () => raw.trim())

/** An http(s) URL without query or fragment, returned without a trailing slash. */
export const baseUrl: Parser<string> = (raw) =>
  Result.flatMap(httpUrl(raw), (url) =>
    url.search !== "" || url.hash !== ""
      ? Result.fail("must not have a query or fragment")
      : Result.succeed(url.href.replace(/\/+$/, "")),
  )

export const nonEmpty: Parser<string> = (raw) =>
  raw.trim() === "" ? Result.fail("must not be empty") : Result.succeed(raw.trim())

export const path: Parser<string> = (raw) =>
  /^\/[\w\-./~]*$/.test(raw) && !raw.includes("..")
    ? Result.succeed(raw.length > 1 ? raw.replace(/\/+$/, "") : raw)
    : Result.fail("must be a path starting with / (letters, digits, - . _ ~ /)")

export const words: Parser<ReadonlyArray<string>> = (raw) =>
  Result.succeed(raw.split(/\s+/).filter((w) => w !== ""))

/** `*`, or space-separated exact origins (`https://app.example`, no path). */
export const origins: Parser<"*" | ReadonlyArray<string>> = (raw) => {
  const list = raw.split(/\s+/).filter((w) => w !== "")
  if (list.length === 1 && list[0] === "*") return Result.succeed("*")
  for (const o of list) {
    const url = absoluteUrl(o)
    if (url === undefined || !["http:", "https:"].includes(url.protocol) || url.origin !== o)
      return Result.fail(
        `must be * or space-separated origins like https://app.example (got ${JSON.stringify(o.slice(0, 80))})`,
      )
  }
  return Result.succeed(list)
}

/** Comma-separated IP addresses and CIDR blocks (`TrustedProxies.parse`; the reason names the bad entry). */
export const trustedProxies: Parser<TrustedProxies.TrustedProxies> = TrustedProxies.parse

export const boolean: Parser<boolean> = (raw) => {
  const s = raw.trim().toLowerCase()
  if (["true", "1", "yes", "on"].includes(s)) return Result.succeed(true)
  if (["false", "0", "no", "off"].includes(s)) return Result.succeed(false)
  return Result.fail("must be true or false")
}

export const oneOf = <const L extends string>(literals: ReadonlyArray<L>): Parser<L> =>
  enumerated(literals, (s) => ((literals as ReadonlyArray<string>).includes(s) ? (s as L) : undefined))

export const integer =
  (min: number, max: number): Parser<number> =>
  (raw) => {
    const s = raw.trim()
    const n = Number(s)
    return /^\d+$/.test(s) && n >= min && n <= max
      ? Result.succeed(n)
      : Result.fail(`must be a whole number from ${min} to ${max}`)
  }

/** Seconds: 1 second up to 5 years, as core's `ProxyConfig` accepts. */
export const seconds: Parser<number> = integer(1, 31_536_000 * 5)

export const hostPort: Parser<HostPort> = (raw) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(raw.trim())
  const port = Number(m?.[3])
  if (m === null || port > 65535) return Result.fail("must be host:port (port 0-65535; [::1]:port for IPv6)")
  return Result.succeed({ host: m[1] ?? (m[2] === "" ? "0.0.0.0" : m[2]!), port })
}

/** The default listen address: the base URL's host and port. */
export const listenOf = (url: URL): HostPort => ({
  host: url.hostname.replace(/^\[|\]$/g, ""),
  port: url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80,
})

export const queryString: Parser<Record<string, string>> = (raw) => {
  const params = new URLSearchParams(raw.startsWith("?") ? raw.slice(1) : raw)
  const out: Record<string, string> = {}
  for (const [k, value] of params) {
    if (k === "") return Result.fail("has an empty parameter name")
    out[k] = value
  }
  return Result.succeed(out)
}

/** The store schemes, for `--help` and the suggestion on an unknown one. */
const storeSchemes = [
  "sqlite:PATH",
  "memory",
  "redis://HOST:PORT",
  "rediss://HOST:PORT",
  "postgres://USER:PASSWORD@HOST:PORT/DATABASE",
]

/**
 * The `postgres` driver reads only `sslmode` (and `sslrootcert=system`) of libpq's URL parameters;
 * any other becomes a server setting sent at connect — `password=` travels there, unencrypted
 * without TLS, and is not used to log in; a `sslrootcert`/`sslcert`/`sslkey` file is never read.
 * So the parameters the driver honours are accepted and the others refused by name.
 */
const postgresParameters: Record<string, ReadonlyArray<string> | undefined> = {
  sslmode: ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
  sslrootcert: ["system"],
  target_session_attrs: ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"],
  application_name: undefined,
}

const postgresHints: Record<string, string> = {
  password: "put the password in the URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE",
  sslrootcert: "only sslrootcert=system is read; for a private CA set NODE_EXTRA_CA_CERTS to its file",
  sslcert: "client certificates are not supported",
  sslkey: "client certificates are not supported",
}

const postgresUrlIssue = (url: URL): string | undefined => {
  for (const [name, value] of url.searchParams) {
    // libpq keeps the last of a repeated parameter, the store the first (`PostgresTls`).
    if (Object.hasOwn(postgresParameters, name) && url.searchParams.getAll(name).length > 1)
      return `the URL parameter ${name} is given more than once`
    const known = Object.hasOwn(postgresParameters, name)
    const values = known ? postgresParameters[name] : undefined
    if (known && (values === undefined || values.includes(value))) continue
    const hint =
      postgresHints[name] ??
      (known
        ? `must be one of ${values?.join(", ")}`
        : `supported: ${Object.keys(postgresParameters).join(", ")}`)
    return `the URL parameter ${name} is not supported (${hint})`
  }
  return undefined
}

const parseStore = (raw: string): Result.Result<StoreSpec, string> => {
  const s = raw.trim()
  if (s === "memory") return Result.succeed({ _tag: "memory" })
  if (s.startsWith("sqlite:")) {
    const filename = s.slice("sqlite:".length)
    return filename === ""
      ? Result.fail("sqlite: needs a path")
      : Result.succeed({ _tag: "sqlite", filename })
  }
  if (s.startsWith("redis://") || s.startsWith("rediss://")) {
    const url = absoluteUrl(s)
    return url === undefined || url.hostname === ""
      ? Result.fail("must be redis://HOST:PORT")
      : Result.succeed({ _tag: "redis", url: s })
  }
  if (s.startsWith("postgres://") || s.startsWith("postgresql://")) {
    const url = absoluteUrl(s)
    if (url === undefined || url.hostname === "")
      return Result.fail("must be postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    const issue = postgresUrlIssue(url)
    return issue === undefined ? Result.succeed({ _tag: "postgres", url: s }) : Result.fail(issue)
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(s)?.[1]
  const near = suggest(scheme ?? s, ["sqlite", "memory", "redis", "rediss", "postgres", "postgresql"])
  return Result.fail(
    `${scheme === undefined ? "" : `unknown scheme ${scheme}; `}must be one of ${storeSchemes.join(", ")}${near === undefined ? "" : `; did you mean ${near}?`}`,
  )
}

export const store: Parser<StoreSpec> = Object.assign(parseStore, { values: storeSchemes })

const byteLength = (s: string) => new TextEncoder().encode(s).length

export const secret =
  (minBytes: number): Parser<Redacted.Redacted<string>> =>
  (raw) =>
    byteLength(raw) >= minBytes
      ? Result.succeed(Redacted.make(raw))
      : Result.fail(minBytes > 1 ? `must be at least ${minBytes} bytes` : "must not be empty")

export const secretList =
  (minBytes: number): Parser<ReadonlyArray<Redacted.Redacted<string>>> =>
  (raw) => {
    const items = raw.split(/\s+/).filter((w) => w !== "")
    const short = items.findIndex((w) => byteLength(w) < minBytes)
    return short >= 0
      ? Result.fail(`secret #${short + 1} must be at least ${minBytes} bytes`)
      : Result.succeed(items.map((w) => Redacted.make(w)))
  }

const levels: Record<string, LogLevel.LogLevel> = {
  all: "All",
  trace: "Trace",
  debug: "Debug",
  info: "Info",
  warn: "Warn",
  warning: "Warn",
  error: "Error",
  fatal: "Fatal",
  none: "None",
}

export const logLevel: Parser<LogLevel.LogLevel> = enumerated(
  ["trace", "debug", "info", "warn", "error", "fatal", "none"],
  (s) => levels[s.toLowerCase()],
)

/** Where audit lines go. */
export type AuditSpec =
  | { readonly _tag: "off" }
  | { readonly _tag: "stdout" }
  | { readonly _tag: "file"; readonly path: string }

const parseAudit = (raw: string): Result.Result<AuditSpec, string> => {
  const s = raw.trim()
  if (s === "off" || s === "stdout") return Result.succeed({ _tag: s })
  if (s.startsWith("file:/") && s.length > "file:/".length)
    return Result.succeed({ _tag: "file", path: s.slice(5) })
  return Result.fail("must be off, stdout or file:/absolute/path")
}

export const audit: Parser<AuditSpec> = parseAudit

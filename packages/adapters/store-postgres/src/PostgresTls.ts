/**
 * The TLS mode of the store's connections, decided from the URL and libpq's environment variables
 * the way libpq decides it, and handed to the driver explicitly.
 *
 * Adapter internals, pure. The `postgres` driver reads `sslmode` (and `sslrootcert=system`) from
 * the URL only: it ignores `PGSSLMODE` and `PGSSLROOTCERT`, and reads a variable of its own,
 * `PGSSL`, instead — so an operator's `PGSSLMODE=verify-full` would have connected in clear. Here
 * the URL's `sslmode` wins, then `PGSSLMODE`, as in libpq; `sslrootcert=system` (URL, else
 * `PGSSLROOTCERT=system`) means `verify-full` against the system CAs (libpq 16). Neither set: no TLS
 * (libpq would try TLS first, `prefer`; name a mode to get it). libpq's TLS variables that the
 * driver cannot apply — a CA, certificate or key file, a CRL, protocol bounds, `PGREQUIRESSL` — and
 * the driver's own `PGSSL` are refused by name rather than silently ignored.
 *
 * @see [libpq: environment variables](https://www.postgresql.org/docs/current/libpq-envars.html)
 * @see [libpq: sslmode](https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION)
 * @since 0.1.0
 */
import { Result } from "effect"

/**
 * libpq's `sslmode` values. `prefer`/`require` encrypt without checking the certificate (as in
 * libpq); `verify-ca` and `verify-full` check it against Node's CAs (`NODE_EXTRA_CA_CERTS` adds a
 * private one), and the host name in both.
 *
 * @category constants
 * @since 0.1.0
 */
export const sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const

/**
 * @category models
 * @since 0.1.0
 */
export type SslMode = (typeof sslModes)[number]

/**
 * What the driver is given for each mode.
 *
 * @category models
 * @since 0.1.0
 */
export type DriverSsl = false | "prefer" | "require" | "verify-full"

const driverModes: Readonly<Record<SslMode, DriverSsl>> = {
  disable: false,
  allow: "prefer",
  prefer: "prefer",
  require: "require",
  "verify-ca": "verify-full",
  "verify-full": "verify-full",
}

/** libpq variables (and the driver's `PGSSL`) whose setting the store would not apply. */
const notApplied: Readonly<Record<string, string>> = {
  PGSSLROOTCERT: "only PGSSLROOTCERT=system is applied; for a private CA set NODE_EXTRA_CA_CERTS to its file",
  PGSSLCERT: "client certificates are not supported",
  PGSSLKEY: "client certificates are not supported",
  PGSSLPASSWORD: "client certificates are not supported",
  PGSSLCERTMODE: "client certificates are not supported",
  PGSSLCRL: "certificate revocation lists are not supported",
  PGSSLCRLDIR: "certificate revocation lists are not supported",
  PGSSLMINPROTOCOLVERSION: "the TLS protocol bounds are Node's (--tls-min-v1.3 sets the minimum)",
  PGSSLMAXPROTOCOLVERSION: "the TLS protocol bounds are Node's (--tls-max-v1.3 sets the maximum)",
  PGREQUIRESSL: "deprecated in libpq; set PGSSLMODE=require or sslmode in the URL",
  PGSSL: "not a libpq variable; set PGSSLMODE or sslmode in the URL",
}

const isMode = (value: string): value is SslMode => (sslModes as ReadonlyArray<string>).includes(value)

const queryOf = (url: string): URLSearchParams => {
  try {
    return new URL(url).searchParams
  } catch {
    return new URLSearchParams()
  }
}

/**
 * Every libpq-style variable in `env` the store would not apply as libpq does, each as
 * `NAME: why` (no value is quoted but `PGSSLMODE`'s, which is not a secret).
 *
 * @category utils
 * @since 0.1.0
 */
export const environmentIssues = (env: Readonly<Record<string, string | undefined>>): Array<string> => {
  const issues: Array<string> = []
  const mode = env["PGSSLMODE"]
  if (mode !== undefined && mode !== "" && !isMode(mode))
    issues.push(`PGSSLMODE: must be one of ${sslModes.join(", ")} (got ${JSON.stringify(mode.slice(0, 40))})`)
  for (const [name, why] of Object.entries(notApplied)) {
    const value = env[name]
    if (value === undefined || value === "") continue
    if (name === "PGSSLROOTCERT" && value === "system") continue
    issues.push(`${name}: set, but the Postgres store does not apply it (${why})`)
  }
  return issues
}

/**
 * The driver's `ssl` option for `url` under `env`: `false` (no TLS) or the mode. The URL's
 * `sslmode` wins over `PGSSLMODE`; `sslrootcert=system` (URL, else `PGSSLROOTCERT`) makes it
 * `verify-full`; `allow` is sent as `prefer` (the driver cannot try a clear connection first; both
 * encrypt when the server offers it and check no certificate) and `verify-ca` as `verify-full` (the
 * driver checks the host name whenever it checks the certificate). Fails with every issue of
 * `environmentIssues`, with one for a URL `sslmode` that is not a mode (the driver would take
 * any string as "TLS"), and with one for `sslmode` or `sslrootcert` named twice (libpq keeps the
 * last: `?sslmode=disable&sslmode=require` is TLS to libpq, and was read as `disable`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const driverSsl = (
  url: string,
  env: Readonly<Record<string, string | undefined>>,
): Result.Result<DriverSsl, ReadonlyArray<string>> => {
  const issues = environmentIssues(env)
  const query = queryOf(url)
  // libpq keeps a parameter's last value and this reads the first: named twice, it is refused.
  for (const name of ["sslmode", "sslrootcert"])
    if (query.getAll(name).length > 1) issues.push(`the URL parameter ${name} is given more than once`)
  const fromUrl = query.get("sslmode")
  if (fromUrl !== null && !isMode(fromUrl))
    issues.push(`the URL parameter sslmode must be one of ${sslModes.join(", ")}`)
  if (issues.length > 0) return Result.fail(issues)
  const fromEnv = env["PGSSLMODE"]
  const rootCert = query.get("sslrootcert") ?? env["PGSSLROOTCERT"]
  const mode: SslMode =
    rootCert === "system"
      ? "verify-full"
      : fromUrl !== null && isMode(fromUrl)
        ? fromUrl
        : fromEnv !== undefined && isMode(fromEnv)
          ? fromEnv
          : "disable"
  return Result.succeed(driverModes[mode])
}

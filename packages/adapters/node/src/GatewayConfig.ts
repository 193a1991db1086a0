/**
 * The `oidc-proxy` gateway's configuration from the environment: one table of variables from
 * which decoding, `oidc-proxy --help` and the README table are all produced.
 *
 * Adapter (configuration). Each variable has a name, a parser, a default and a one-line
 * description. `decode` reads every variable, collects every bad one (a message per variable that
 * names it, never echoing a secret), then checks the combined result against core's
 * `ProxyConfig` so a value core would refuse is also reported by its variable name.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { ProxyConfig, ProxyKeys, type StorageKeys } from "@oidc-proxy/core"
import { Effect, Exit, type LogLevel, Redacted, Result } from "effect"
import * as P from "./internal/parsers.ts"

/**
 * One environment variable.
 *
 * @category models
 * @since 0.1.0
 */
export interface Variable<A> {
  readonly name: string
  /** The default as text (what `--help` shows); `undefined` = none. */
  readonly default: string | undefined
  /** The default when it is not a literal (e.g. derived from another variable); shown in `--help`. */
  readonly defaultText?: string
  readonly required: boolean
  /** A secret: kept `Redacted`, its value never appears in a message. */
  readonly secret: boolean
  readonly description: string
  readonly parse: (raw: string) => Result.Result<A, string>
}

const v = <A>(
  name: string,
  spec: {
    readonly default?: string
    readonly defaultText?: string
    readonly required?: boolean
    readonly secret?: boolean
    readonly description: string
    readonly parse: (raw: string) => Result.Result<A, string>
  },
): Variable<A> => ({
  name,
  default: spec.default,
  ...(spec.defaultText === undefined ? {} : { defaultText: spec.defaultText }),
  required: spec.required ?? false,
  secret: spec.secret ?? false,
  description: spec.description,
  parse: spec.parse,
})

/**
 * Every variable the gateway reads, in `--help` order. The decoded field is the key.
 *
 * @category constants
 * @since 0.1.0
 */
export const variables = {
  baseUrl: v("OIDC_PROXY_BASE_URL", {
    required: true,
    description: "Public URL of the proxy (the issuer), e.g. http://127.0.0.1:8080",
    parse: P.baseUrl,
  }),
  listen: v("OIDC_PROXY_LISTEN", {
    defaultText: "host:port of the base URL",
    description: "host:port to bind",
    parse: P.hostPort,
  }),
  target: v("OIDC_PROXY_TARGET", {
    required: true,
    description: "URL of the protected MCP server, e.g. http://127.0.0.1:9000/mcp",
    parse: P.targetUrl,
  }),
  resourcePath: v("OIDC_PROXY_RESOURCE_PATH", {
    default: "/mcp",
    description: "Path of the protected resource on the proxy; the resource is base URL + path",
    parse: P.path,
  }),
  upstreamIssuer: v("OIDC_PROXY_UPSTREAM_ISSUER", {
    required: true,
    description: "Upstream issuer; endpoints come from its /.well-known/openid-configuration",
    parse: P.httpUrlText,
  }),
  upstreamClientId: v("OIDC_PROXY_UPSTREAM_CLIENT_ID", {
    required: true,
    description: "The proxy's client id at the upstream IdP",
    parse: P.nonEmpty,
  }),
  upstreamClientSecret: v("OIDC_PROXY_UPSTREAM_CLIENT_SECRET", {
    required: true,
    secret: true,
    description: "The proxy's client secret at the upstream IdP",
    parse: P.secret(1),
  }),
  upstreamScopes: v("OIDC_PROXY_UPSTREAM_SCOPES", {
    default: "openid",
    description: "Space-separated scopes requested upstream when the client asks for none",
    parse: P.words,
  }),
  upstreamAuthMethod: v("OIDC_PROXY_UPSTREAM_AUTH_METHOD", {
    default: "client_secret_basic",
    description: "client_secret_basic or client_secret_post",
    parse: P.oneOf(["client_secret_basic", "client_secret_post"]),
  }),
  upstreamAudience: v("OIDC_PROXY_UPSTREAM_AUDIENCE", {
    description: "Expected aud of upstream access tokens (unset: not checked)",
    parse: P.nonEmpty,
  }),
  upstreamExtraParams: v("OIDC_PROXY_UPSTREAM_EXTRA_PARAMS", {
    description: "Extra upstream authorization parameters, query-string form (prompt=login&x=y)",
    parse: P.queryString,
  }),
  verifyIdToken: v("OIDC_PROXY_VERIFY_ID_TOKEN", {
    default: "false",
    description: "true: verify the upstream id_token on each request instead of the access token",
    parse: P.boolean,
  }),
  requiredScopes: v("OIDC_PROXY_REQUIRED_SCOPES", {
    default: "",
    description: "Space-separated scopes every request to the resource needs",
    parse: P.words,
  }),
  scopesSupported: v("OIDC_PROXY_SCOPES_SUPPORTED", {
    default: "",
    description: "Space-separated scopes clients may ask for (empty: any)",
    parse: P.words,
  }),
  store: v("OIDC_PROXY_STORE", {
    default: "sqlite:./oidc-proxy.db",
    description: "sqlite:PATH, memory, or redis://HOST:PORT (rediss:// for TLS)",
    parse: P.store,
  }),
  secret: v("OIDC_PROXY_SECRET", {
    secret: true,
    defaultText: "required unless OIDC_PROXY_DEV=true",
    description: `Master secret (at least ${ProxyKeys.minimumSecretBytes} bytes) for signing and encryption keys`,
    parse: P.secret(ProxyKeys.minimumSecretBytes),
  }),
  previousSecrets: v("OIDC_PROXY_PREVIOUS_SECRETS", {
    secret: true,
    default: "",
    description: "Space-separated earlier master secrets: stored data they encrypted stays readable",
    parse: P.secretList(ProxyKeys.minimumSecretBytes),
  }),
  dev: v("OIDC_PROXY_DEV", {
    default: "false",
    description: "true: allow a generated secret (sessions do not survive a restart)",
    parse: P.boolean,
  }),
  consent: v("OIDC_PROXY_CONSENT", {
    default: "on",
    description: "Consent page: on (every time), remember (once per client and browser), off",
    parse: P.oneOf(["on", "off", "remember"]),
  }),
  allowedRedirectUris: v("OIDC_PROXY_ALLOWED_REDIRECT_URIS", {
    default: "",
    description: "Space-separated redirect URI patterns (* within a segment, ** across); empty: any",
    parse: P.words,
  }),
  registration: v("OIDC_PROXY_REGISTRATION", {
    default: "on",
    description: "Dynamic client registration (RFC 7591): on or off",
    parse: P.oneOf(["on", "off"]),
  }),
  clientIdMetadata: v("OIDC_PROXY_CLIENT_ID_METADATA", {
    default: "on",
    description: "Client ID Metadata Documents (an https URL as client_id, fetched SSRF-safely): on or off",
    parse: P.oneOf(["on", "off"]),
  }),
  clientIdMetadataDevLoopback: v("OIDC_PROXY_CLIENT_ID_METADATA_DEV_LOOPBACK", {
    default: "false",
    description: "Development only — true: allow client metadata documents at http://127.0.0.1/localhost",
    parse: P.boolean,
  }),
  registrationToken: v("OIDC_PROXY_REGISTRATION_TOKEN", {
    secret: true,
    description: "When set, /register requires Authorization: Bearer <this token>",
    parse: P.secret(1),
  }),
  accessTokenTtl: v("OIDC_PROXY_ACCESS_TOKEN_TTL", {
    default: "3600",
    description: "Lifetime of proxy access tokens, seconds",
    parse: P.seconds,
  }),
  refreshTokenTtl: v("OIDC_PROXY_REFRESH_TOKEN_TTL", {
    default: "2592000",
    description: "Lifetime of proxy refresh tokens, seconds",
    parse: P.seconds,
  }),
  codeTtl: v("OIDC_PROXY_CODE_TTL", {
    default: "300",
    description: "Lifetime of authorization codes, seconds",
    parse: P.seconds,
  }),
  refreshGrace: v("OIDC_PROXY_REFRESH_GRACE", {
    default: "30",
    description: "Seconds a rotated refresh token still answers a retried request",
    parse: P.seconds,
  }),
  clockTolerance: v("OIDC_PROXY_CLOCK_TOLERANCE", {
    default: "30",
    description: "Leeway for exp/nbf/iat checks, seconds (0-300)",
    parse: P.integer(0, 300),
  }),
  callbackPath: v("OIDC_PROXY_CALLBACK_PATH", {
    default: "/auth/callback",
    description: "Path of the redirect URI registered at the upstream IdP",
    parse: P.path,
  }),
  forwardAccessToken: v("OIDC_PROXY_FORWARD_ACCESS_TOKEN", {
    default: "false",
    description: "true: pass the upstream access token to the target as X-Forwarded-Access-Token",
    parse: P.boolean,
  }),
  corsOrigins: v("OIDC_PROXY_CORS_ORIGINS", {
    default: "*",
    description:
      "Origins of browser pages allowed to call the MCP endpoint (CORS): * or space-separated origins",
    parse: P.origins,
  }),
  shutdownTimeout: v("OIDC_PROXY_SHUTDOWN_TIMEOUT", {
    default: "10",
    description: "Seconds in-flight requests get to finish on SIGTERM/SIGINT",
    parse: P.integer(0, 3600),
  }),
  logLevel: v("OIDC_PROXY_LOG_LEVEL", {
    default: "info",
    description: "trace, debug, info, warn, error, fatal or none",
    parse: P.logLevel,
  }),
  logFormat: v("OIDC_PROXY_LOG_FORMAT", {
    default: "json",
    description: "json (one JSON object a line) or pretty",
    parse: P.oneOf(["json", "pretty"]),
  }),
  metricsListen: v("OIDC_PROXY_METRICS_LISTEN", {
    description: "host:port of a separate Prometheus /metrics listener (unset: off)",
    parse: P.hostPort,
  }),
  otlpEndpoint: v("OIDC_PROXY_OTLP_ENDPOINT", {
    description: "OTLP/HTTP base URL for OpenTelemetry traces (unset: off)",
    parse: P.httpUrl,
  }),
} as const

/**
 * Every variable, in `--help` order.
 *
 * @category constants
 * @since 0.1.0
 */
export const list: ReadonlyArray<Variable<unknown>> = Object.values(variables)

type Values = {
  readonly [K in keyof typeof variables]: (typeof variables)[K] extends Variable<infer A>
    ? A | undefined
    : never
}

/**
 * The decoded configuration of the gateway.
 *
 * @category models
 * @since 0.1.0
 */
export interface GatewayConfig {
  /** The proxy's public base URL, without a trailing slash; the issuer. */
  readonly baseUrl: string
  readonly listen: P.HostPort
  readonly target: URL
  readonly resourcePath: string
  /** The input of core's `ProxyConfig.decode` (already checked to decode). */
  readonly proxy: Record<string, unknown>
  readonly upstream: {
    readonly client_secret: Redacted.Redacted<string>
    readonly token_endpoint_auth_method: "client_secret_basic" | "client_secret_post"
  }
  readonly store: P.StoreSpec
  /** Newest first: the first signs and encrypts, all decrypt. */
  readonly secrets: readonly [StorageKeys.KeySecret, ...Array<StorageKeys.KeySecret>]
  readonly dev: boolean
  readonly forwardAccessToken: boolean
  /** Browser origins allowed on the MCP endpoint (CORS). */
  readonly corsOrigins: "*" | ReadonlyArray<string>
  readonly shutdownTimeoutSeconds: number
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: "json" | "pretty"
  readonly metricsListen: P.HostPort | undefined
  readonly otlpEndpoint: URL | undefined
  /** Unsafe choices (generated secret, memory store) to log once at startup. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * The environment did not decode: one line per bad variable, each starting with its name.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidEnvironment extends Error {
  readonly _tag = "InvalidEnvironment"
  readonly issues: ReadonlyArray<string>
  constructor(issues: ReadonlyArray<string>) {
    super(`invalid configuration:\n  ${issues.join("\n  ")}`)
    this.name = "InvalidEnvironment"
    this.issues = issues
  }
}

/** Core's config path (as `ProxyConfig.decode` names it) → the variable that sets it. */
const proxyPaths: Record<string, string> = {
  issuer: variables.baseUrl.name,
  resource: variables.resourcePath.name,
  verification_mode: variables.verifyIdToken.name,
  required_scopes: variables.requiredScopes.name,
  clock_tolerance_seconds: variables.clockTolerance.name,
  "upstream.issuer": variables.upstreamIssuer.name,
  "upstream.client_id": variables.upstreamClientId.name,
  "upstream.audience": variables.upstreamAudience.name,
  "upstream.scopes": variables.upstreamScopes.name,
  "upstream.extra_authorize_params": variables.upstreamExtraParams.name,
  scopes_supported: variables.scopesSupported.name,
  consent: variables.consent.name,
  callback_path: variables.callbackPath.name,
  "ttl.authorization_code": variables.codeTtl.name,
  "ttl.access_token": variables.accessTokenTtl.name,
  "ttl.refresh_token": variables.refreshTokenTtl.name,
  "ttl.refresh_grace": variables.refreshGrace.name,
  "registration.enabled": variables.registration.name,
  "registration.initial_access_token": variables.registrationToken.name,
  "registration.allowed_redirect_uris": variables.allowedRedirectUris.name,
  "client_id_metadata_documents.enabled": variables.clientIdMetadata.name,
  "client_id_metadata_documents.allow_http_loopback": variables.clientIdMetadataDevLoopback.name,
}

const readAll = (env: Readonly<Record<string, string | undefined>>, issues: Array<string>): Values => {
  const values: Record<string, unknown> = {}
  for (const [key, variable] of Object.entries(variables) as Array<[string, Variable<unknown>]>) {
    const raw = env[variable.name]
    const text = raw === undefined || raw === "" ? variable.default : raw
    if (text === undefined) {
      if (variable.required) issues.push(`${variable.name}: required, not set`)
      values[key] = undefined
      continue
    }
    const parsed = variable.parse(text)
    if (Result.isFailure(parsed)) {
      // A secret's value never appears in a message, not even a bad one.
      const shown = variable.secret
        ? ""
        : ` (got ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)})`
      issues.push(`${variable.name}: ${parsed.failure}${shown}`)
      values[key] = undefined
    } else values[key] = parsed.success
  }
  return values as Values
}

/** A stable key id for a secret, so data encrypted under it names it across restarts. */
const kidOf = (secret: Redacted.Redacted<string>): string =>
  createHash("sha256").update(Redacted.value(secret)).digest("base64url").slice(0, 16)

const checkProxyConfig = (proxy: Record<string, unknown>, issues: Array<string>) => {
  const exit = Effect.runSyncExit(ProxyConfig.decode(proxy))
  if (Exit.isSuccess(exit)) return
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  const error = failure?._tag === "Fail" ? (failure.error as ProxyConfig.InvalidConfig) : undefined
  for (const issue of error?.issues ?? ["(root): invalid"]) {
    const path = issue.slice(0, issue.indexOf(":"))
    const name = proxyPaths[path] ?? Object.entries(proxyPaths).find(([p]) => path.startsWith(`${p}.`))?.[1]
    issues.push(name === undefined ? `configuration ${issue}` : `${name}: ${issue.slice(path.length + 2)}`)
  }
}

/**
 * Decodes the gateway configuration from `env`. Fails with `InvalidEnvironment` listing every bad
 * variable. `randomSecret` makes the dev-mode secret (default: 32 random bytes).
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly randomSecret?: () => string } = {},
): Result.Result<GatewayConfig, InvalidEnvironment> => {
  const issues: Array<string> = []
  const values = readAll(env, issues)
  const warnings: Array<string> = []
  let secret = values.secret
  if (secret === undefined && !issues.some((i) => i.startsWith(`${variables.secret.name}:`))) {
    if (values.dev === true) {
      secret = Redacted.make(options.randomSecret?.() ?? randomBytes(32).toString("base64url"))
      warnings.push(
        `${variables.secret.name} is not set: using a generated secret (OIDC_PROXY_DEV=true); tokens and sessions end with the process`,
      )
    } else issues.push(`${variables.secret.name}: required unless OIDC_PROXY_DEV=true, not set`)
  }
  if (values.clientIdMetadataDevLoopback === true)
    warnings.push(
      "OIDC_PROXY_CLIENT_ID_METADATA_DEV_LOOPBACK=true: client metadata documents may be fetched from loopback addresses over http (development only)",
    )
  if (values.store?._tag === "memory")
    warnings.push("OIDC_PROXY_STORE=memory: state is lost on restart and not shared between instances")
  const { baseUrl, target, upstreamClientSecret } = values
  // Required variables that are undefined already have an issue each.
  if (
    baseUrl === undefined ||
    target === undefined ||
    upstreamClientSecret === undefined ||
    issues.length > 0
  ) {
    return Result.fail(new InvalidEnvironment(issues))
  }
  const resourcePath = values.resourcePath ?? "/mcp"
  const proxy: Record<string, unknown> = {
    issuer: baseUrl,
    resource: `${baseUrl}${resourcePath}`,
    verification_mode: values.verifyIdToken ? "id_token" : "access_token",
    required_scopes: values.requiredScopes,
    clock_tolerance_seconds: values.clockTolerance,
    upstream: {
      issuer: values.upstreamIssuer,
      client_id: values.upstreamClientId,
      ...(values.upstreamAudience === undefined ? {} : { audience: values.upstreamAudience }),
      scopes: values.upstreamScopes,
      extra_authorize_params: values.upstreamExtraParams ?? {},
    },
    scopes_supported: values.scopesSupported,
    consent: values.consent,
    callback_path: values.callbackPath,
    ttl: {
      authorization_code: values.codeTtl,
      access_token: values.accessTokenTtl,
      refresh_token: values.refreshTokenTtl,
      refresh_grace: values.refreshGrace,
    },
    registration: {
      enabled: values.registration === "on",
      ...(values.registrationToken === undefined
        ? {}
        : { initial_access_token: Redacted.value(values.registrationToken) }),
      allowed_redirect_uris: values.allowedRedirectUris,
    },
    client_id_metadata_documents: {
      enabled: values.clientIdMetadata !== "off",
      allow_http_loopback: values.clientIdMetadataDevLoopback === true,
    },
  }
  checkProxyConfig(proxy, issues)
  if (issues.length > 0 || secret === undefined) return Result.fail(new InvalidEnvironment(issues))
  const current = secret
  return Result.succeed({
    baseUrl,
    listen: values.listen ?? P.listenOf(new URL(baseUrl)),
    target,
    resourcePath,
    proxy,
    upstream: {
      client_secret: upstreamClientSecret,
      token_endpoint_auth_method: values.upstreamAuthMethod ?? "client_secret_basic",
    },
    store: values.store ?? { _tag: "sqlite", filename: "./oidc-proxy.db" },
    secrets: [
      { kid: kidOf(current), secret: current },
      ...(values.previousSecrets ?? []).map((s) => ({ kid: kidOf(s), secret: s })),
    ],
    dev: values.dev ?? false,
    forwardAccessToken: values.forwardAccessToken ?? false,
    corsOrigins: values.corsOrigins ?? "*",
    shutdownTimeoutSeconds: values.shutdownTimeout ?? 10,
    logLevel: values.logLevel ?? "Info",
    logFormat: values.logFormat ?? "json",
    metricsListen: values.metricsListen,
    otlpEndpoint: values.otlpEndpoint,
    warnings,
  })
}

const defaultOf = (variable: Variable<unknown>): string =>
  variable.defaultText ??
  (variable.default === undefined ? (variable.required ? "(required)" : "(unset)") : variable.default)

/**
 * The `--help` text: usage and every variable with its default.
 *
 * @category constructors
 * @since 0.1.0
 */
export const help = (): string => {
  const width = Math.max(...list.map((x) => x.name.length))
  const lines = list.map((x) => {
    const shown = defaultOf(x)
    return `  ${x.name.padEnd(width)}  ${x.description}\n  ${" ".repeat(width)}  default: ${shown === "" ? '""' : shown}`
  })
  return [
    "oidc-proxy — an OAuth 2.1 / OpenID Connect proxy in front of an MCP server",
    "",
    "Usage: oidc-proxy [--help]",
    "",
    "Configured from the environment:",
    "",
    ...lines,
    "",
  ].join("\n")
}

/**
 * The README's configuration table (Markdown).
 *
 * @category constructors
 * @since 0.1.0
 */
export const markdownTable = (): string =>
  [
    "| variable | default | meaning |",
    "|---|---|---|",
    ...list.map((x) => {
      const shown = defaultOf(x)
      return `| \`${x.name}\` | ${shown === "" ? '`""`' : shown.startsWith("(") || x.defaultText ? shown : `\`${shown}\``} | ${x.description.replace(/\|/g, "\\|")} |`
    }),
  ].join("\n")

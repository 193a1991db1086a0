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
import { type DownstreamToken, ProxyConfig, ProxyKeys, type StorageKeys } from "@oidc-proxy/core"
import type { TrustedProxies } from "@oidc-proxy/http"
import { PostgresTls } from "@oidc-proxy/store-postgres"
import { Effect, Exit, type LogLevel, Redacted, Result } from "effect"
import * as GatewayPresets from "./GatewayPresets.ts"
import * as Text from "./internal/configText.ts"
import * as P from "./internal/parsers.ts"
import { suggest } from "./internal/suggest.ts"
import type * as ReverseProxy from "./ReverseProxy.ts"

/**
 * Where a variable's value goes in core's `ProxyConfig` input: a dotted path, and how the decoded
 * value becomes the field (default: as is). `values` holds every variable's decoded value by key,
 * for a field that combines two (the resource is base URL + path). An unset value sets nothing.
 *
 * @category models
 * @since 0.1.0
 */
export interface ProxyField<A> {
  readonly path: string
  from?(value: A, values: Readonly<Record<string, unknown>>): unknown
}

/**
 * One environment variable. `Out` is its decoded type in the configuration: `A` when it has a
 * default or is required, otherwise `A | undefined`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Variable<A, Out = A | undefined> {
  readonly name: string
  /** The default as text (what `--help` shows); `undefined` = none. */
  readonly default: string | undefined
  /** The default when it is not a literal (e.g. derived from another variable); shown in `--help`. */
  readonly defaultText?: string
  readonly required: boolean
  /** A secret: kept `Redacted`, its value never appears in a message or in `oidc-proxy check`. */
  readonly secret: boolean
  readonly description: string
  /** The enumerated values, when the setting has a fixed set (taken from the parser). */
  readonly values: ReadonlyArray<string> | undefined
  readonly parse: P.Parser<A>
  /** Where the value goes in core's `ProxyConfig` input; unset for gateway-only settings. */
  readonly proxy: ProxyField<A> | undefined
  /** Type-level only: the decoded type. */
  readonly Out?: Out
}

/** A table entry: everything but the name, which comes first in `v(...)`. */
interface Spec<A> {
  readonly default?: string
  readonly defaultText?: string
  readonly required?: boolean
  readonly secret?: boolean
  readonly description: string
  readonly parse: P.Parser<A>
  /** A dotted `ProxyConfig` path, or a path and a mapping. */
  readonly proxy?: string | ProxyField<A>
}

function v<A>(
  name: string,
  spec: Spec<A> & ({ readonly default: string } | { readonly required: true }),
): Variable<A, A>
function v<A>(name: string, spec: Spec<A>): Variable<A>
function v<A>(name: string, spec: Spec<A>): Variable<A> {
  return {
    name,
    default: spec.default,
    ...(spec.defaultText === undefined ? {} : { defaultText: spec.defaultText }),
    required: spec.required ?? false,
    secret: spec.secret ?? false,
    description: spec.description,
    values: spec.parse.values,
    parse: spec.parse,
    proxy: typeof spec.proxy === "string" ? { path: spec.proxy } : spec.proxy,
  }
}

/**
 * Every variable the gateway reads, in `--help` order: the one place a setting is written. Parsing,
 * `--help`, the error messages, `oidc-proxy check` and the README table all come from here.
 *
 * Adding a variable is one entry: `key: v("OIDC_PROXY_NAME", { default, description, parse })`,
 * plus `secret: true` for a secret, `required: true` when it has no default, and `proxy: "a.b"`
 * when it sets core's `ProxyConfig` field `a.b` (`{ path, from }` when the value needs mapping).
 * A gateway-only setting is then read as `values.key` in `assemble`. Enumerated values come from
 * the parser (`P.oneOf([...])`). Then run `npm run docs:config`.
 *
 * @category constants
 * @since 0.1.0
 */
export const variables = {
  baseUrl: v("OIDC_PROXY_BASE_URL", {
    required: true,
    description: "Public URL of the proxy (the issuer), e.g. http://127.0.0.1:8080",
    parse: P.baseUrl,
    proxy: "issuer",
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
    proxy: { path: "resource", from: (path, values) => `${String(values["baseUrl"])}${path}` },
  }),
  provider: v("OIDC_PROXY_PROVIDER", {
    default: "oidc",
    description: "Identity provider preset: fills in the upstream settings below (each can still be set)",
    parse: P.oneOf(GatewayPresets.names),
  }),
  entraTenant: v("OIDC_PROXY_ENTRA_TENANT", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_ENTRA_TENANT.description,
    parse: P.nonEmpty,
  }),
  entraApiScopes: v("OIDC_PROXY_ENTRA_API_SCOPES", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_ENTRA_API_SCOPES.description,
    parse: P.nonEmpty,
  }),
  auth0Domain: v("OIDC_PROXY_AUTH0_DOMAIN", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_AUTH0_DOMAIN.description,
    parse: P.nonEmpty,
  }),
  oktaDomain: v("OIDC_PROXY_OKTA_DOMAIN", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_OKTA_DOMAIN.description,
    parse: P.nonEmpty,
  }),
  oktaAuthorizationServer: v("OIDC_PROXY_OKTA_AUTHORIZATION_SERVER", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_OKTA_AUTHORIZATION_SERVER.description,
    parse: P.nonEmpty,
  }),
  keycloakUrl: v("OIDC_PROXY_KEYCLOAK_URL", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_KEYCLOAK_URL.description,
    parse: P.nonEmpty,
  }),
  keycloakRealm: v("OIDC_PROXY_KEYCLOAK_REALM", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_KEYCLOAK_REALM.description,
    parse: P.nonEmpty,
  }),
  sapCisTenant: v("OIDC_PROXY_SAP_CIS_TENANT", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_SAP_CIS_TENANT.description,
    parse: P.nonEmpty,
  }),
  cognitoUserPoolId: v("OIDC_PROXY_COGNITO_USER_POOL_ID", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_COGNITO_USER_POOL_ID.description,
    parse: P.nonEmpty,
  }),
  githubUrl: v("OIDC_PROXY_GITHUB_URL", {
    description: GatewayPresets.providerVariables.OIDC_PROXY_GITHUB_URL.description,
    parse: P.httpUrlText,
  }),
  githubApiUrl: v("OIDC_PROXY_GITHUB_API_URL", {
    description:
      "The upstream is GitHub and this its REST API (https://api.github.com): emails, organizations, app-token revocation",
    parse: P.httpUrlText,
    proxy: "upstream.github_api_url",
  }),
  upstreamIssuer: v("OIDC_PROXY_UPSTREAM_ISSUER", {
    required: true,
    description:
      "Upstream issuer; endpoints come from its /.well-known/openid-configuration unless given by hand",
    parse: P.httpUrlText,
    proxy: "upstream.issuer",
  }),
  upstreamIssuerTemplate: v("OIDC_PROXY_UPSTREAM_ISSUER_TEMPLATE", {
    description:
      "Issuer with {tenantid} that tokens carry, filled from their tid (Entra common/organizations)",
    parse: P.nonEmpty,
    proxy: "upstream.issuer_template",
  }),
  upstreamClientId: v("OIDC_PROXY_UPSTREAM_CLIENT_ID", {
    required: true,
    description: "The proxy's client id at the upstream IdP",
    parse: P.nonEmpty,
    proxy: "upstream.client_id",
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
    proxy: "upstream.scopes",
  }),
  upstreamAuthMethod: v("OIDC_PROXY_UPSTREAM_AUTH_METHOD", {
    default: "client_secret_basic",
    description: "How the proxy authenticates at the upstream token endpoint",
    parse: P.oneOf(["client_secret_basic", "client_secret_post"]),
  }),
  upstreamAudience: v("OIDC_PROXY_UPSTREAM_AUDIENCE", {
    description: "Expected aud of upstream access tokens (unset: not checked)",
    parse: P.nonEmpty,
    proxy: "upstream.audience",
  }),
  upstreamExtraParams: v("OIDC_PROXY_UPSTREAM_EXTRA_PARAMS", {
    description: "Extra upstream authorization parameters, query-string form (prompt=login&x=y)",
    parse: P.queryString,
    proxy: "upstream.extra_authorize_params",
  }),
  upstreamAuthorizationEndpoint: v("OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT", {
    description:
      "Upstream authorization endpoint by hand; with the token endpoint also set, no discovery happens",
    parse: P.httpUrlText,
    proxy: "upstream.authorization_endpoint",
  }),
  upstreamTokenEndpoint: v("OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT", {
    description: "Upstream token endpoint by hand (set together with the authorization endpoint)",
    parse: P.httpUrlText,
    proxy: "upstream.token_endpoint",
  }),
  upstreamRevocationEndpoint: v("OIDC_PROXY_UPSTREAM_REVOCATION_ENDPOINT", {
    description: "Upstream RFC 7009 revocation endpoint (overrides discovery; unset by hand: none)",
    parse: P.httpUrlText,
    proxy: "upstream.revocation_endpoint",
  }),
  upstreamUserinfoEndpoint: v("OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT", {
    description: "Upstream userinfo or API endpoint (e.g. https://api.github.com/user); overrides discovery",
    parse: P.httpUrlText,
    proxy: "upstream.userinfo_endpoint",
  }),
  upstreamIntrospectionEndpoint: v("OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT", {
    description: "Upstream RFC 7662 introspection endpoint; overrides discovery",
    parse: P.httpUrlText,
    proxy: "upstream.introspection_endpoint",
  }),
  upstreamJwksUri: v("OIDC_PROXY_UPSTREAM_JWKS_URI", {
    description: "Upstream JWKS URL; overrides discovery (needed by jwt verification without it)",
    parse: P.httpUrlText,
    proxy: "upstream.jwks_uri",
  }),
  upstreamVerification: v("OIDC_PROXY_UPSTREAM_VERIFICATION", {
    default: "jwt",
    description:
      "How upstream tokens are checked: jwt (JWKS), introspection (RFC 7662) or userinfo (API call); the last two are cached up to OIDC_PROXY_CACHE_TTL",
    parse: P.oneOf(["jwt", "introspection", "userinfo"]),
    proxy: "upstream.verification",
  }),
  upstreamSubjectClaim: v("OIDC_PROXY_UPSTREAM_SUBJECT_CLAIM", {
    default: "sub",
    description: "Member of the introspection or userinfo answer holding the user id (GitHub: id)",
    parse: P.nonEmpty,
    proxy: "upstream.subject_claim",
  }),
  upstreamScopesHeader: v("OIDC_PROXY_UPSTREAM_SCOPES_HEADER", {
    description:
      "userinfo: response header listing the granted scopes (GitHub: X-OAuth-Scopes); unset: the scopes recorded at sign-in",
    parse: P.nonEmpty,
    proxy: "upstream.scopes_header",
  }),
  upstreamCheckClientId: v("OIDC_PROXY_UPSTREAM_CHECK_CLIENT_ID", {
    default: "false",
    description:
      "true: upstream access tokens (or their introspection answer) must carry client_id = the client id (tokens without aud; not with userinfo)",
    parse: P.boolean,
    proxy: "upstream.access_token_client_id",
  }),
  allowedEmails: v("OIDC_PROXY_ALLOWED_EMAILS", {
    default: "",
    description: "Space-separated emails that may sign in (verified emails; empty: any)",
    parse: P.words,
    proxy: "access.emails",
  }),
  allowedEmailDomains: v("OIDC_PROXY_ALLOWED_EMAIL_DOMAINS", {
    default: "",
    description: "Space-separated email domains that may sign in (verified emails; empty: any)",
    parse: P.words,
    proxy: "access.email_domains",
  }),
  allowedTenants: v("OIDC_PROXY_ALLOWED_TENANTS", {
    default: "",
    description: "Space-separated tenant ids (tid) that may sign in (empty: any)",
    parse: P.words,
    proxy: "access.tenants",
  }),
  allowedHostedDomains: v("OIDC_PROXY_ALLOWED_HOSTED_DOMAINS", {
    default: "",
    description: "Space-separated Google Workspace domains (hd) that may sign in (empty: any)",
    parse: P.words,
    proxy: "access.hosted_domains",
  }),
  allowedGroups: v("OIDC_PROXY_ALLOWED_GROUPS", {
    default: "",
    description: "Space-separated groups (groups, cognito:groups); a user in one may sign in (empty: any)",
    parse: P.words,
    proxy: "access.groups",
  }),
  allowedOrgs: v("OIDC_PROXY_ALLOWED_ORGS", {
    default: "",
    description:
      "Space-separated GitHub organizations; a member of one may sign in (needs read:org; empty: any)",
    parse: P.words,
    proxy: "access.organizations",
  }),
  verifyIdToken: v("OIDC_PROXY_VERIFY_ID_TOKEN", {
    default: "false",
    description: "true: verify the upstream id_token on each request instead of the access token",
    parse: P.boolean,
    proxy: { path: "verification_mode", from: (on) => (on ? "id_token" : "access_token") },
  }),
  requiredScopes: v("OIDC_PROXY_REQUIRED_SCOPES", {
    default: "",
    description: "Space-separated scopes every request to the resource needs",
    parse: P.words,
    proxy: "required_scopes",
  }),
  scopesSupported: v("OIDC_PROXY_SCOPES_SUPPORTED", {
    default: "",
    description: "Space-separated scopes clients may ask for (empty: any)",
    parse: P.words,
    proxy: "scopes_supported",
  }),
  store: v("OIDC_PROXY_STORE", {
    default: "sqlite:./oidc-proxy.db",
    description:
      "Where the proxy keeps its state (rediss:// for Redis over TLS; postgres://…?sslmode=verify-full, or PGSSLMODE when the URL names no sslmode, for Postgres over TLS)",
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
    description: "Consent page: on (every time), remember (once per client and browser), off (never)",
    parse: P.oneOf(["on", "off", "remember"]),
    proxy: "consent",
  }),
  allowedRedirectUris: v("OIDC_PROXY_ALLOWED_REDIRECT_URIS", {
    default: "",
    description: "Space-separated redirect URI patterns (* within a segment, ** across); empty: any",
    parse: P.words,
    proxy: "registration.allowed_redirect_uris",
  }),
  registration: v("OIDC_PROXY_REGISTRATION", {
    default: "on",
    description: "Dynamic client registration (RFC 7591)",
    parse: P.oneOf(["on", "off"]),
    proxy: { path: "registration.enabled", from: (s) => s === "on" },
  }),
  clientIdMetadata: v("OIDC_PROXY_CLIENT_ID_METADATA", {
    default: "on",
    description: "Client ID Metadata Documents (an https URL as client_id, fetched SSRF-safely)",
    parse: P.oneOf(["on", "off"]),
    proxy: { path: "client_id_metadata_documents.enabled", from: (s) => s === "on" },
  }),
  clientIdMetadataDevLoopback: v("OIDC_PROXY_CLIENT_ID_METADATA_DEV_LOOPBACK", {
    default: "false",
    description: "Development only — true: allow client metadata documents at http://127.0.0.1/localhost",
    parse: P.boolean,
    proxy: "client_id_metadata_documents.allow_http_loopback",
  }),
  registrationToken: v("OIDC_PROXY_REGISTRATION_TOKEN", {
    secret: true,
    description: "When set, /register requires Authorization: Bearer <this token>",
    parse: P.secret(1),
    proxy: { path: "registration.initial_access_token", from: Redacted.value },
  }),
  accessTokenTtl: v("OIDC_PROXY_ACCESS_TOKEN_TTL", {
    default: "3600",
    description: "Lifetime of proxy access tokens, seconds",
    parse: P.seconds,
    proxy: "ttl.access_token",
  }),
  refreshTokenTtl: v("OIDC_PROXY_REFRESH_TOKEN_TTL", {
    default: "2592000",
    description: "Lifetime of proxy refresh tokens, seconds",
    parse: P.seconds,
    proxy: "ttl.refresh_token",
  }),
  codeTtl: v("OIDC_PROXY_CODE_TTL", {
    default: "300",
    description: "Lifetime of authorization codes, seconds",
    parse: P.seconds,
    proxy: "ttl.authorization_code",
  }),
  refreshGrace: v("OIDC_PROXY_REFRESH_GRACE", {
    default: "30",
    description: "Seconds a rotated refresh token still answers a retried request",
    parse: P.seconds,
    proxy: "ttl.refresh_grace",
  }),
  registrationQuota: v("OIDC_PROXY_REGISTRATION_QUOTA", {
    default: "100",
    description: "Client registrations per source address per hour (0 = no limit)",
    parse: P.integer(0, 1_000_000),
    proxy: "quotas.registrations_per_source",
  }),
  authorizeQuota: v("OIDC_PROXY_AUTHORIZE_QUOTA", {
    default: "300",
    description: "Pending sign-ins (/authorize) per source address per transaction lifetime (0 = no limit)",
    parse: P.integer(0, 1_000_000),
    proxy: "quotas.authorizations_per_source",
  }),
  assertionQuota: v("OIDC_PROXY_ASSERTION_QUOTA", {
    default: "600",
    description: "Accepted private_key_jwt client assertions per source address per 5 minutes (0 = no limit)",
    parse: P.integer(0, 1_000_000),
    proxy: "quotas.assertions_per_source",
  }),
  tokenQuota: v("OIDC_PROXY_TOKEN_QUOTA", {
    default: "0",
    description: "/token requests per source address per minute, bad ones included (0 = no limit)",
    parse: P.integer(0, 1_000_000),
    proxy: "quotas.tokens_per_source",
  }),
  tokenClientQuota: v("OIDC_PROXY_TOKEN_CLIENT_QUOTA", {
    default: "0",
    description: "/token requests per authenticated client per minute, all sources together (0 = no limit)",
    parse: P.integer(0, 1_000_000),
    proxy: "quotas.tokens_per_client",
  }),
  mcpQuota: v("OIDC_PROXY_MCP_QUOTA", {
    default: "0",
    description:
      "Requests to the protected resource per subject per minute, after the bearer check (0 = no limit)",
    parse: P.integer(0, 1_000_000),
    proxy: "quotas.resource_requests_per_subject",
  }),
  trustedProxies: v("OIDC_PROXY_TRUSTED_PROXIES", {
    default: "",
    description:
      "Comma-separated IPs/CIDRs of reverse proxies whose X-Forwarded-For names the source the per-address quotas count (the right-most address not in this list); empty: the socket peer",
    parse: P.trustedProxies,
  }),
  clockTolerance: v("OIDC_PROXY_CLOCK_TOLERANCE", {
    default: "30",
    description: "Leeway for exp/nbf/iat checks, seconds (0-300)",
    parse: P.integer(0, 300),
    proxy: "clock_tolerance_seconds",
  }),
  cacheTtl: v("OIDC_PROXY_CACHE_TTL", {
    default: "5",
    description:
      "Seconds a verified token (and an introspection/userinfo answer) is remembered, 0-300; a token revoked at the IdP is refused at most this long afterwards",
    parse: P.integer(0, 300),
    proxy: "cache_ttl_seconds",
  }),
  callbackPath: v("OIDC_PROXY_CALLBACK_PATH", {
    default: "/auth/callback",
    description: "Path of the redirect URI registered at the upstream IdP",
    parse: P.path,
    proxy: "callback_path",
  }),
  forwardAccessToken: v("OIDC_PROXY_FORWARD_ACCESS_TOKEN", {
    default: "false",
    description: "true: same as OIDC_PROXY_DOWNSTREAM_TOKEN=upstream",
    parse: P.boolean,
  }),
  downstreamToken: v("OIDC_PROXY_DOWNSTREAM_TOKEN", {
    default: "off",
    description:
      "Token the target gets for APIs behind it: off, upstream (the upstream access token), exchange (RFC 8693), entra-obo",
    parse: P.oneOf(["off", "upstream", "exchange", "entra-obo"]),
  }),
  downstreamTokenHeader: v("OIDC_PROXY_DOWNSTREAM_TOKEN_HEADER", {
    default: "x-forwarded-access-token",
    description: "Header the downstream token travels in (authorization: as Bearer)",
    parse: P.oneOf(["x-forwarded-access-token", "authorization"]),
  }),
  exchangeEndpoint: v("OIDC_PROXY_EXCHANGE_ENDPOINT", {
    defaultText: "the upstream token endpoint",
    description:
      "Token endpoint of the exchange (exchange, entra-obo); the upstream client credentials are sent",
    parse: P.secretEndpoint,
  }),
  exchangeAudience: v("OIDC_PROXY_EXCHANGE_AUDIENCE", {
    description: "RFC 8693 audience of the exchanged token (exchange)",
    parse: P.nonEmpty,
  }),
  exchangeResource: v("OIDC_PROXY_EXCHANGE_RESOURCE", {
    description: "RFC 8693 resource (absolute URI) of the exchanged token (exchange)",
    parse: P.httpUrlText,
  }),
  exchangeScope: v("OIDC_PROXY_EXCHANGE_SCOPE", {
    description: "Space-separated scopes of the exchanged token (required for entra-obo)",
    parse: P.nonEmpty,
  }),
  trustUnverifiedEmail: v("OIDC_PROXY_TRUST_UNVERIFIED_EMAIL", {
    default: "false",
    description:
      "true: send X-Auth-Request-Email also without email_verified: true (IdPs that never send it)",
    parse: P.boolean,
  }),
  corsOrigins: v("OIDC_PROXY_CORS_ORIGINS", {
    default: "*",
    description:
      "Origins of browser pages allowed to call the MCP endpoint (CORS): * or space-separated origins",
    parse: P.origins,
  }),
  policy: v("OIDC_PROXY_POLICY", {
    description:
      "Path of the MCP policy file (YAML or JSON): per-method, tool, resource and prompt rules; reloaded on SIGHUP (unset: off)",
    parse: P.nonEmpty,
  }),
  policyMaxBody: v("OIDC_PROXY_POLICY_MAX_BODY", {
    default: "1048576",
    description: "Largest MCP request body read to classify it under a policy or audit, bytes; larger: 413",
    parse: P.integer(1024, 64 * 1024 * 1024),
  }),
  audit: v("OIDC_PROXY_AUDIT", {
    default: "off",
    description: "One JSON line per MCP call: off, stdout, or file:/absolute/path (appended)",
    parse: P.audit,
  }),
  shutdownTimeout: v("OIDC_PROXY_SHUTDOWN_TIMEOUT", {
    default: "10",
    description: "Seconds in-flight requests get to finish on SIGTERM/SIGINT",
    parse: P.integer(0, 3600),
  }),
  logLevel: v("OIDC_PROXY_LOG_LEVEL", {
    default: "info",
    description: "Least severe log level written",
    parse: P.logLevel,
  }),
  logFormat: v("OIDC_PROXY_LOG_FORMAT", {
    default: "json",
    description: "Log format: json (one JSON object a line) or pretty",
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

/** The decoded value of each variable, by key. */
type Values = {
  readonly [K in keyof typeof variables]: (typeof variables)[K] extends Variable<infer _A, infer Out>
    ? Out
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
  /** Whether the target receives a downstream token (`downstreamToken.mode` is not `off`). */
  readonly forwardAccessToken: boolean
  /** What the target receives for the APIs behind it, and in which header. */
  readonly downstreamToken: DownstreamTokenConfig
  /** Send `X-Auth-Request-Email` without `email_verified: true`. */
  readonly trustUnverifiedEmail: boolean
  /** The peers whose `X-Forwarded-For` names the source per-address quotas count (none: the peer). */
  readonly trustedProxies: TrustedProxies.TrustedProxies
  /** Browser origins allowed on the MCP endpoint (CORS). */
  readonly corsOrigins: "*" | ReadonlyArray<string>
  /** Path of the MCP policy file, when one is enforced. */
  readonly policyPath: string | undefined
  /** Largest MCP request body read to classify it, bytes. */
  readonly policyMaxBody: number
  readonly audit: P.AuditSpec
  readonly shutdownTimeoutSeconds: number
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: "json" | "pretty"
  readonly metricsListen: P.HostPort | undefined
  readonly otlpEndpoint: URL | undefined
  /** Unsafe choices (generated secret, memory store) to log once at startup. */
  readonly warnings: ReadonlyArray<string>
}

/**
 * The downstream token: none, the upstream access token, or an exchange result (with the exchange's
 * settings and its endpoint; `undefined` = the upstream token endpoint).
 *
 * @category models
 * @since 0.1.0
 */
export type DownstreamTokenConfig =
  | { readonly mode: "off" }
  | { readonly mode: "upstream"; readonly header: ReverseProxy.DownstreamHeader }
  | {
      readonly mode: "exchange" | "entra-obo"
      readonly header: ReverseProxy.DownstreamHeader
      readonly settings: DownstreamToken.Settings
      readonly endpoint: URL | undefined
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

/**
 * Where a value in effect came from: the environment, the preset `OIDC_PROXY_PROVIDER` names,
 * or the table's default.
 *
 * @category models
 * @since 0.1.0
 */
export type Source = "default" | "preset" | "environment"

/**
 * The environment read against the table, before the values are combined: each variable's value
 * (absent when unset or bad), the text in effect and its source, and one issue per bad or unknown
 * variable. What `oidc-proxy check` reports from.
 *
 * @category models
 * @since 0.1.0
 */
export interface Reading {
  readonly values: { readonly [K in keyof Values]?: Values[K] }
  /** By variable name: the text in effect (from the environment or the default) and its source. */
  readonly texts: Readonly<Record<string, { readonly text: string; readonly source: Source }>>
  readonly issues: ReadonlyArray<string>
}

const prefix = "OIDC_PROXY_"
const known = new Set(list.map((x) => x.name))

/**
 * One issue per `OIDC_PROXY_*` variable the table does not have (any case), naming the closest
 * known one: a misspelled security setting must stop the start, not be ignored.
 */
const unknownVariables = (env: Readonly<Record<string, string | undefined>>): Array<string> =>
  Object.keys(env)
    .filter((name) => env[name] !== undefined && name.toUpperCase().startsWith(prefix) && !known.has(name))
    .sort()
    .map((name) => {
      const near = suggest(
        name.slice(prefix.length),
        list.map((x) => x.name.slice(prefix.length)),
      )
      return `${name}: unknown variable; ${near === undefined ? "see oidc-proxy --help" : `did you mean ${prefix}${near}?`}`
    })

/**
 * Passwords in URLs masked — in the userinfo (`redis://:pw@host`, `postgres://user:pw@host`) and
 * in a `password=` query parameter (libpq style): a non-secret setting may still carry one. A URL
 * may hold a space or a tab there (`new URL` encodes it), so the mask runs to the line's last `@`:
 * masking too much is harmless, too little prints a password. Mask before cutting a text short.
 */
export const maskCredentials = (text: string): string =>
  text.replace(/(\/\/[^/@:\r\n]*:)[^\r\n]*@/g, "$1***@").replace(/([?&]password=)[^&#\r\n]*/gi, "$1***")

/**
 * The texts the preset `OIDC_PROXY_PROVIDER` names supplies (none when it is unset, `oidc`, or
 * not a preset: `read` reports that one itself); its problems are added to `issues`.
 */
const presetOf = (
  env: Readonly<Record<string, string | undefined>>,
  issues: Array<string>,
): { readonly texts: Readonly<Record<string, string>>; readonly failed: boolean } => {
  const name = env[variables.provider.name]?.trim() || "oidc"
  if (!(GatewayPresets.names as ReadonlyArray<string>).includes(name)) return { texts: {}, failed: true }
  const { texts, issues: problems } = GatewayPresets.contribution(name as GatewayPresets.Name, env)
  issues.push(...problems)
  return { texts, failed: problems.length > 0 }
}

/**
 * Reads every variable of the table from `env` (unset or empty: the default), and refuses every
 * `OIDC_PROXY_*` variable the table does not have. Never fails; the issues say what is wrong.
 *
 * @category constructors
 * @since 0.1.0
 */
export const read = (env: Readonly<Record<string, string | undefined>>): Reading => {
  const issues = unknownVariables(env)
  const values: Record<string, unknown> = {}
  const texts: Record<string, { text: string; source: Source }> = {}
  const { texts: preset, failed } = presetOf(env, issues)
  for (const [key, variable] of Object.entries(variables) as Array<[string, Variable<unknown>]>) {
    const raw = env[variable.name]
    const fromEnv = raw !== undefined && raw !== ""
    const fromPreset = preset[variable.name]
    const text = fromEnv ? raw : (fromPreset ?? variable.default)
    if (text === undefined) {
      // A preset that failed was to supply the issuer; its own issue says why.
      const presetWould = failed && variable.name === variables.upstreamIssuer.name
      if (variable.required && !presetWould) issues.push(`${variable.name}: required, not set`)
      continue
    }
    texts[variable.name] = {
      text,
      source: fromEnv ? "environment" : fromPreset === undefined ? "default" : "preset",
    }
    const parsed = variable.parse(text)
    if (Result.isSuccess(parsed)) values[key] = parsed.success
    else {
      // A secret's value never appears in a message, not even a bad one.
      // Masked before it is cut: a cut can fall inside a password, before the `@` the mask needs.
      const masked = maskCredentials(text)
      const cut = masked.length > 80 ? `${masked.slice(0, 80)}…` : masked
      const shown = variable.secret ? "" : ` (got ${JSON.stringify(cut)})`
      issues.push(`${variable.name}: ${parsed.failure}${shown}`)
    }
  }
  return { values, texts, issues }
}

/** Core's config path (as `ProxyConfig.decode` names it) → the variable that sets it. */
const proxyPaths: Record<string, string> = Object.fromEntries(
  list.flatMap((x) => (x.proxy === undefined ? [] : [[x.proxy.path, x.name]])),
)

const setPath = (target: Record<string, unknown>, path: string, value: unknown): void => {
  const [head, ...tail] = path.split(".") as [string, ...Array<string>]
  if (tail.length === 0) {
    target[head] = value
    return
  }
  target[head] ??= {}
  setPath(target[head] as Record<string, unknown>, tail.join("."), value)
}

/** Core's `ProxyConfig` input, from every variable that has a `proxy` field. */
const proxyInput = (values: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const proxy: Record<string, unknown> = {}
  for (const [key, variable] of Object.entries(variables) as Array<[string, Variable<unknown>]>) {
    const value = values[key]
    if (variable.proxy === undefined || value === undefined) continue
    setPath(proxy, variable.proxy.path, variable.proxy.from ? variable.proxy.from(value, values) : value)
  }
  return proxy
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

/** The downstream-token mode in effect: `OIDC_PROXY_FORWARD_ACCESS_TOKEN=true` is `upstream`. */
const downstreamMode = (values: Reading["values"]) =>
  values.forwardAccessToken === true && values.downstreamToken === "off" ? "upstream" : values.downstreamToken

/**
 * The downstream-token variables that contradict each other: an exchange setting without an
 * exchange, Entra's preset without a scope or with RFC 8693 fields, two different modes.
 */
const downstreamIssues = (values: Reading["values"]): Array<string> => {
  const issues: Array<string> = []
  const mode = downstreamMode(values)
  const name = variables.downstreamToken.name
  if (values.forwardAccessToken === true && mode !== "upstream")
    issues.push(`${variables.forwardAccessToken.name}: true contradicts ${name}=${mode}; set only ${name}`)
  const exchanging = mode === "exchange" || mode === "entra-obo"
  for (const key of ["exchangeEndpoint", "exchangeAudience", "exchangeResource", "exchangeScope"] as const)
    if (!exchanging && values[key] !== undefined)
      issues.push(
        `${variables[key].name}: set, but ${name} is ${mode ?? "off"} (exchange or entra-obo use it)`,
      )
  if (mode === "entra-obo") {
    if (values.exchangeScope === undefined)
      issues.push(
        `${variables.exchangeScope.name}: required with ${name}=entra-obo (e.g. api://<app>/.default)`,
      )
    for (const key of ["exchangeAudience", "exchangeResource"] as const)
      if (values[key] !== undefined)
        issues.push(`${variables[key].name}: not sent with ${name}=entra-obo (Entra takes the scope only)`)
  }
  return issues
}

/**
 * With a Postgres store, libpq's variables the store would not apply as libpq does, by name
 * (`PostgresTls`): a `PGSSLMODE` the driver alone would ignore is applied, a bad one is refused.
 */
const postgresIssues = (
  values: Reading["values"],
  env: Readonly<Record<string, string | undefined>>,
): Array<string> => (values.store?._tag === "postgres" ? PostgresTls.environmentIssues(env) : [])

const downstreamOf = (values: Values): DownstreamTokenConfig => {
  const mode = downstreamMode(values) ?? "off"
  const header = values.downstreamTokenHeader
  if (mode === "off" || mode === "upstream") return mode === "off" ? { mode } : { mode, header }
  return {
    mode,
    header,
    endpoint: values.exchangeEndpoint,
    settings: {
      grant: mode,
      ...(values.exchangeAudience === undefined ? {} : { audience: values.exchangeAudience }),
      ...(values.exchangeResource === undefined ? {} : { resource: values.exchangeResource }),
      ...(values.exchangeScope === undefined ? {} : { scope: values.exchangeScope }),
    },
  }
}

/** Unsafe choices worth one warning line at startup. */
const warningsOf = (values: Reading["values"]): Array<string> => [
  ...(values.clientIdMetadataDevLoopback === true
    ? [
        `${variables.clientIdMetadataDevLoopback.name}=true: client metadata documents may be fetched from loopback addresses over http (development only)`,
      ]
    : []),
  ...(values.store?._tag === "memory"
    ? [`${variables.store.name}=memory: state is lost on restart and not shared between instances`]
    : []),
]

/** The master secret: the configured one, or in dev mode a generated one (with a warning). */
const masterSecret = (
  reading: Reading,
  issues: Array<string>,
  warnings: Array<string>,
  randomSecret: (() => string) | undefined,
): Redacted.Redacted<string> | undefined => {
  const { secret, dev } = reading.values
  // Set but bad: `read` already named it.
  if (secret !== undefined || reading.texts[variables.secret.name] !== undefined) return secret
  if (dev !== true) {
    issues.push(`${variables.secret.name}: required unless ${variables.dev.name}=true, not set`)
    return undefined
  }
  warnings.push(
    `${variables.secret.name} is not set: using a generated secret (${variables.dev.name}=true); tokens and sessions end with the process`,
  )
  return Redacted.make(randomSecret?.() ?? randomBytes(32).toString("base64url"))
}

/** The gateway-only settings, once every variable has decoded. */
const assemble = (
  values: Values,
  proxy: Record<string, unknown>,
  secret: Redacted.Redacted<string>,
  warnings: ReadonlyArray<string>,
): GatewayConfig => ({
  baseUrl: values.baseUrl,
  listen: values.listen ?? P.listenOf(new URL(values.baseUrl)),
  target: values.target,
  resourcePath: values.resourcePath,
  proxy,
  upstream: {
    client_secret: values.upstreamClientSecret,
    token_endpoint_auth_method: values.upstreamAuthMethod,
  },
  store: values.store,
  secrets: [
    { kid: kidOf(secret), secret },
    ...(values.previousSecrets ?? []).map((s) => ({ kid: kidOf(s), secret: s })),
  ],
  dev: values.dev,
  forwardAccessToken: downstreamMode(values) !== "off",
  downstreamToken: downstreamOf(values),
  trustUnverifiedEmail: values.trustUnverifiedEmail,
  trustedProxies: values.trustedProxies,
  corsOrigins: values.corsOrigins,
  policyPath: values.policy,
  policyMaxBody: values.policyMaxBody,
  audit: values.audit,
  shutdownTimeoutSeconds: values.shutdownTimeout,
  logLevel: values.logLevel,
  logFormat: values.logFormat,
  metricsListen: values.metricsListen,
  otlpEndpoint: values.otlpEndpoint,
  warnings,
})

/**
 * Decodes the gateway configuration from `env`. Fails with `InvalidEnvironment` listing every
 * problem at once: each bad, missing or unknown `OIDC_PROXY_*` variable, then each value core's
 * `ProxyConfig` refuses, by variable name. `randomSecret` makes the dev-mode secret (default: 32
 * random bytes).
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly randomSecret?: () => string } = {},
): Result.Result<GatewayConfig, InvalidEnvironment> => {
  const reading = read(env)
  const issues = [
    ...reading.issues,
    ...downstreamIssues(reading.values),
    ...postgresIssues(reading.values, env),
  ]
  const warnings = warningsOf(reading.values)
  const secret = masterSecret(reading, issues, warnings, options.randomSecret)
  if (issues.length > 0 || secret === undefined) return Result.fail(new InvalidEnvironment(issues))
  // Every variable decoded: required ones are set and defaulted ones have their default.
  const values = reading.values as Values
  const proxy = proxyInput(values)
  checkProxyConfig(proxy, issues)
  if (issues.length > 0) return Result.fail(new InvalidEnvironment(issues))
  return Result.succeed(assemble(values, proxy, secret, warnings))
}

/**
 * The `--help` text: usage and every variable with its default and allowed values.
 *
 * @category constructors
 * @since 0.1.0
 */
export const help = (): string => Text.help(list)

/**
 * The README's configuration table (Markdown); `npm run docs:config` writes it into the READMEs.
 *
 * @category constructors
 * @since 0.1.0
 */
export const markdownTable = (): string => Text.markdownTable(list)

/**
 * The proxy's configuration: one Schema, decoded once at startup.
 *
 * Pure core (schema only). Every field documents its unit and default; a configuration that does
 * not decode is a startup error that names each bad field (see `decode`).
 *
 * @since 0.1.0
 */
import { Context, Effect, Schema, SchemaIssue } from "effect"
import { AccessConfig } from "./AccessRules.ts"
import * as Scopes from "./Scopes.ts"
import * as TenantIssuer from "./TenantIssuer.ts"
import { VerificationMode } from "./VerificationMode.ts"

const HttpUrl = Schema.String.check(
  Schema.makeFilter((s) => {
    try {
      const u = new URL(s)
      return u.protocol === "https:" || u.protocol === "http:" ? undefined : "must be an http(s) URL"
    } catch {
      return "must be an absolute URL"
    }
  }),
)

/**
 * Asymmetric JWS algorithms accepted on upstream tokens by default. Symmetric algorithms are
 * never accepted from the upstream: a shared-secret upstream token could be forged by anyone who
 * holds the client secret.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultUpstreamAlgorithms = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const

const Count = (fallback: number) =>
  Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 1_000_000 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(fallback)),
  )

const Seconds = (fallback: number) =>
  Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 31_536_000 * 5 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(fallback)),
  )

/**
 * @category schemas
 * @since 0.1.0
 */
export const UpstreamConfig = Schema.Struct({
  /** The upstream IdP's issuer identifier, compared exactly with `iss`. */
  issuer: HttpUrl,
  /**
   * The issuer the IdP's discovery document and tokens name, when it differs from `issuer` by a
   * `{tenantid}` placeholder (Entra's `common` and `organizations` endpoints): each token's `iss`
   * must equal it with the token's `tid` (a GUID) substituted. Unset: tokens carry `issuer`.
   * Recommendation: restrict the tenants with `access.tenants`.
   */
  issuer_template: Schema.optionalKey(
    Schema.String.check(
      Schema.makeFilter((s) => (TenantIssuer.isTemplate(s) ? undefined : "must contain {tenantid} once")),
    ),
  ),
  /** The proxy's client id at the IdP; the id_token's `aud` must contain it. */
  client_id: Schema.NonEmptyString,
  /**
   * Expected `aud` of upstream access tokens in access_token mode. When absent the audience of
   * upstream access tokens is not checked. Recommendation: set it.
   */
  audience: Schema.optionalKey(Schema.NonEmptyString),
  /**
   * In access_token mode, require the upstream access token's `client_id` claim to equal
   * `client_id`: for IdPs whose access tokens name the client there and carry no `aud` (Cognito).
   * Default `false`. Recommendation: on whenever `audience` cannot be set.
   */
  access_token_client_id: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(false))),
  /**
   * Scopes requested upstream when the client asks for none (and always included). Default
   * `openid`.
   */
  scopes: Schema.Array(Schema.String).pipe(Schema.withDecodingDefaultKey(Effect.succeed(["openid"]))),
  /** Extra parameters added to the upstream authorization request (e.g. `prompt`, `audience`). */
  extra_authorize_params: Schema.Record(Schema.String, Schema.String).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed({})),
  ),
  /**
   * Refresh the upstream token this many seconds before it expires, on the request path.
   * Default 60.
   */
  refresh_skew_seconds: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 3600 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(60)),
  ),
  /** JWS algorithms accepted on upstream tokens. Default: the asymmetric ones. */
  algorithms: Schema.Array(Schema.NonEmptyString).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed([...defaultUpstreamAlgorithms])),
  ),
  /**
   * The IdP's authorization endpoint, by hand. With `token_endpoint` also set no discovery happens
   * and every endpoint comes from here; set neither to discover (the default).
   */
  authorization_endpoint: Schema.optionalKey(HttpUrl),
  /** The IdP's token endpoint, by hand (see `authorization_endpoint`). */
  token_endpoint: Schema.optionalKey(HttpUrl),
  /** RFC 7009 revocation endpoint; overrides the discovered one. Unset without discovery: none. */
  revocation_endpoint: Schema.optionalKey(HttpUrl),
  /** Userinfo or provider API endpoint (GitHub `https://api.github.com/user`); overrides discovery. */
  userinfo_endpoint: Schema.optionalKey(HttpUrl),
  /** RFC 7662 introspection endpoint; overrides discovery. */
  introspection_endpoint: Schema.optionalKey(HttpUrl),
  /** The IdP's JWKS URL; overrides discovery. Required by `verification: "jwt"` without discovery. */
  jwks_uri: Schema.optionalKey(HttpUrl),
  /**
   * How the upstream token is verified on each request. `jwt` (default): signature against the
   * JWKS. `introspection`: RFC 7662 call with the client's credentials; the token must be `active`
   * and unexpired. `userinfo`: a GET of `userinfo_endpoint` with the token as bearer (for opaque
   * tokens such as GitHub's). The network strategies are cached per token (keyed HMAC of the token)
   * for at most `cache_ttl_seconds` and never past its `exp`; both need `verification_mode:
   * access_token`.
   *
   * @see [RFC 7662 §2](https://www.rfc-editor.org/rfc/rfc7662#section-2)
   */
  verification: Schema.Literals(["jwt", "introspection", "userinfo"]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("jwt" as const)),
  ),
  /**
   * Member of an introspection or userinfo answer that holds the subject (a number becomes its
   * decimal string). Default `sub`; GitHub's `/user` has `id`.
   */
  subject_claim: Schema.NonEmptyString.pipe(Schema.withDecodingDefaultKey(Effect.succeed("sub"))),
  /**
   * `userinfo` only: response header listing the granted scopes, comma- or space-separated (GitHub
   * `X-OAuth-Scopes`). Unset or absent from the answer: the scopes recorded at authorization time.
   */
  scopes_header: Schema.optionalKey(Schema.NonEmptyString),
  /**
   * The upstream is GitHub, and this is its REST API's base URL (`https://api.github.com`). With
   * `userinfo` verification the email is GitHub's primary verified one from `GET /user/emails`
   * (only when the token has `user:email` or `user`), and with `access.organizations` set the
   * `orgs` claim lists the user's organizations from `GET /user/orgs` (needs `read:org`).
   * Revocation goes to the application-token API (`DELETE /applications/{client_id}/token`)
   * instead of RFC 7009. Unset: none of this.
   *
   * @see [GitHub: OAuth authorizations](https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-token)
   */
  github_api_url: Schema.optionalKey(HttpUrl),
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const ProxyConfig = Schema.Struct({
  /** The proxy's issuer URL (its base URL); `iss` of every token it issues. */
  issuer: HttpUrl,
  /** The protected resource's URL (RFC 8707); `aud` of the access tokens the proxy issues. */
  resource: HttpUrl,
  /** Which upstream token is verified on every request. Default `access_token`. */
  verification_mode: VerificationMode.pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("access_token" as const)),
  ),
  /** Scopes every request needs. Default none. */
  required_scopes: Schema.Array(Schema.String).pipe(Schema.withDecodingDefaultKey(Effect.succeed([]))),
  /**
   * Leeway for `exp`/`nbf`/`iat` checks, in seconds. Default 30. Recommendation: keep it under a
   * minute.
   */
  clock_tolerance_seconds: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 300 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(30)),
  ),
  upstream: UpstreamConfig,
  /** Who may sign in (`AccessRules`), checked once at the upstream callback. Default: anyone. */
  access: AccessConfig.pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  /**
   * How long a verified bearer token is remembered by this instance, in seconds (0 = never). A
   * remembered token is answered without store reads or signature checks, but never past its own
   * `exp` nor past the upstream token set's refresh time. Revocation through this instance evicts
   * at once; an instance that did not revoke a token refuses it at most this long afterwards.
   * Default 5. Recommendation: keep it a few seconds.
   */
  cache_ttl_seconds: Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 0, maximum: 300 })).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed(5)),
  ),
  /**
   * Most verified tokens remembered at once (oldest dropped first). Default 10000 (about 2 KB
   * each).
   */
  cache_max_entries: Schema.Number.check(
    Schema.isInt(),
    Schema.isBetween({ minimum: 0, maximum: 10_000_000 }),
  ).pipe(Schema.withDecodingDefaultKey(Effect.succeed(10_000))),
  /** Scopes clients may ask for; empty = whatever the client asks (forwarded upstream). */
  scopes_supported: Schema.Array(Schema.String).pipe(Schema.withDecodingDefaultKey(Effect.succeed([]))),
  /**
   * Scopes any client may ask for beyond the scope it registered: the scopes the gateway's MCP
   * policy challenges for. The MCP SDK registers a client with the scope of its first sign-in and
   * steps up as the same client, so a challenge it cannot answer would end its session. The consent
   * page still shows them. Default none; the gateway sets it from its policy file's rule `scopes`.
   */
  step_up_scopes: Schema.Array(Schema.String).pipe(Schema.withDecodingDefaultKey(Effect.succeed([]))),
  /**
   * The consent page: `on` (default) asks every time, `remember` asks once per client and browser,
   * `off` never asks. Recommendation: keep `on` unless every client is trusted; the page is what
   * stops a malicious client from riding on an existing IdP session (confused deputy).
   */
  consent: Schema.Literals(["on", "off", "remember"]).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("on" as const)),
  ),
  /** Path (below the issuer) of the upstream redirect URI registered at the IdP. Default `/auth/callback`. */
  callback_path: Schema.String.check(Schema.isPattern(/^\/[\w\-./]*$/)).pipe(
    Schema.withDecodingDefaultKey(Effect.succeed("/auth/callback")),
  ),
  /** Lifetimes, in seconds. */
  ttl: Schema.Struct({
    /** Authorization codes. Default 300 (5 minutes). */
    authorization_code: Seconds(300),
    /** Proxy access tokens. Default 3600. */
    access_token: Seconds(3600),
    /** Proxy refresh tokens. Default 2592000 (30 days). */
    refresh_token: Seconds(2_592_000),
    /** Authorization transactions (user at the IdP or on the consent page). Default 600. */
    transaction: Seconds(600),
    /** Registered clients, from registration. Default 31536000 (a year). */
    client: Seconds(31_536_000),
    /**
     * Dynamically registered clients that have not yet obtained a token: a client is kept this long
     * after registration, and for `client` once its first code is redeemed. Default 86400 (a day).
     */
    unused_client: Seconds(86_400),
    /**
     * Grace window after a refresh-token rotation during which a retried request gets the same
     * answer; a reuse after it revokes the whole family. Default 30.
     */
    refresh_grace: Seconds(30),
  }).pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  /**
   * Quotas on what unauthenticated callers can make the proxy store, counted in the shared store
   * (every instance sharing it shares the counts) in fixed windows. A source is the peer address
   * the server sees (an IPv6 address counts by its /64); behind a reverse proxy every caller shares
   * the proxy's address, so raise the per-source limits there. 0 turns a limit off.
   */
  quotas: Schema.Struct({
    /** Client registrations per source per `registration_window_seconds`. Default 100. */
    registrations_per_source: Count(100),
    /** Default 3600 (an hour). */
    registration_window_seconds: Seconds(3600),
    /**
     * Pending sign-ins (`/authorize` requests that pass every check and store a transaction) per
     * source per `ttl.transaction`. Default 300.
     */
    authorizations_per_source: Count(300),
    /**
     * Pending sign-ins per `client_id` per `ttl.transaction`, from all sources together. Default
     * 1000. Recommendation: keep it well above `authorizations_per_source`, so that one source cannot
     * exhaust a client's quota for everyone.
     */
    authorizations_per_client: Count(1000),
    /**
     * Accepted `private_key_jwt` assertions (each leaves a used-`jti` mark for its lifetime, at most
     * five minutes and the clock tolerance) per source per five minutes. Default 600.
     */
    assertions_per_source: Count(600),
    /** Accepted assertions per `client_id` per five minutes, from all sources together. Default 3000. */
    assertions_per_client: Count(3000),
    /**
     * `/token` requests per source per `token_window_seconds`, counted before anything else (a
     * flood of bad requests counts too). Default 0 (no limit): behind a reverse proxy every caller
     * has the proxy's address, so a per-source limit would be shared by all users.
     */
    tokens_per_source: Count(0),
    /**
     * `/token` requests per authenticated `client_id` per `token_window_seconds`, from all sources
     * together. Default 0 (no limit). A public client authenticates by its id alone, so anyone can
     * spend its budget: set it only together with `tokens_per_source`, well above it.
     */
    tokens_per_client: Count(0),
    /** Default 60 (a minute). */
    token_window_seconds: Seconds(60),
    /**
     * Requests to the protected resource per subject per `resource_window_seconds`, counted after
     * the bearer check allowed them (the gateway's). Default 0 (no limit).
     */
    resource_requests_per_subject: Count(0),
    /** Default 60 (a minute). */
    resource_window_seconds: Seconds(60),
  }).pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  /** Dynamic client registration (RFC 7591). */
  registration: Schema.Struct({
    /** Default `true`. */
    enabled: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true))),
    /** When set, `/register` requires `Authorization: Bearer <this token>`. */
    initial_access_token: Schema.optionalKey(Schema.RedactedFromValue(Schema.String)),
    /** Allow-list patterns for redirect URIs (`*` within a segment, `**` across); empty = any. */
    allowed_redirect_uris: Schema.Array(Schema.String).pipe(
      Schema.withDecodingDefaultKey(Effect.succeed([])),
    ),
  }).pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
  /**
   * Client ID Metadata Documents (CIMD): a `client_id` that is an https URL is fetched, validated
   * and cached as the client's registration.
   *
   * @see [draft-ietf-oauth-client-id-metadata-document](https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/)
   */
  client_id_metadata_documents: Schema.Struct({
    /** Default `true`. When `false`, URL client ids are unknown clients and nothing is fetched. */
    enabled: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(true))),
    /**
     * Development only: accept `http://127.0.0.1`/`localhost` document URLs and let the fetcher
     * connect to loopback addresses. Default `false`. Recommendation: never in production.
     */
    allow_http_loopback: Schema.Boolean.pipe(Schema.withDecodingDefaultKey(Effect.succeed(false))),
    /** Shortest time a document is cached, seconds (also for `no-store`). Default 60. */
    cache_min_seconds: Seconds(60),
    /** Longest time a document is cached, whatever its `Cache-Control` says, seconds. Default 86400. */
    cache_max_seconds: Seconds(86_400),
    /** Caching time when the response has no `Cache-Control` lifetime, seconds. Default 3600. */
    cache_default_seconds: Seconds(3600),
    /**
     * How long past its freshness a cached document keeps working while refetches fail, seconds.
     * Default 3600.
     */
    stale_if_error_seconds: Seconds(3600),
  }).pipe(Schema.withDecodingDefaultKey(Effect.succeed({}))),
})

/**
 * @category models
 * @since 0.1.0
 */
export type ProxyConfig = typeof ProxyConfig.Type

/**
 * The scopes a client can be told about: `scopes_supported` when set, else the upstream scopes
 * and the required ones. Discovery advertises them and the flows check requests against them.
 *
 * @category utils
 * @since 0.1.0
 */
export const advertisedScopes = (config: ProxyConfig): Scopes.ScopeSet =>
  config.scopes_supported.length > 0
    ? Scopes.normalize(config.scopes_supported)
    : Scopes.union(config.upstream.scopes, config.required_scopes)

/**
 * The decoded configuration, as a service.
 *
 * @category services
 * @since 0.1.0
 */
export class Settings extends Context.Service<Settings, ProxyConfig>()("@oidc-proxy/core/ProxyConfig") {}

/**
 * A configuration that does not decode; `issues` names each bad field by its path.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  issues: Schema.Array(Schema.String),
}) {
  override get message(): string {
    return `invalid configuration:\n  ${this.issues.join("\n  ")}`
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Whether the upstream is configured by hand (both the authorization and the token endpoint set):
 * then no discovery happens and every endpoint comes from the configuration.
 *
 * @category utils
 * @since 0.1.0
 */
export const endpointsByHand = (upstream: ProxyConfig["upstream"]): boolean =>
  upstream.authorization_endpoint !== undefined && upstream.token_endpoint !== undefined

/** The endpoint each verification strategy calls. */
const strategyEndpoint = {
  jwt: "jwks_uri",
  introspection: "introspection_endpoint",
  userinfo: "userinfo_endpoint",
} as const

/**
 * The combinations a field-by-field decode cannot see: half of the endpoints by hand, a strategy
 * whose endpoint is neither configured nor discoverable, a network strategy in id_token mode, a
 * client check (`access_token_client_id`) that userinfo cannot make.
 */
const upstreamIssues = (config: ProxyConfig): Array<string> => {
  const upstream = config.upstream
  const issues: Array<string> = []
  const auth = upstream.authorization_endpoint !== undefined
  const token = upstream.token_endpoint !== undefined
  if (auth !== token) {
    const missing = auth ? "token_endpoint" : "authorization_endpoint"
    issues.push(
      `upstream.${missing}: required when upstream.${auth ? "authorization_endpoint" : "token_endpoint"} is set (endpoints by hand turn discovery off); set both, or neither to discover`,
    )
  }
  const needed = strategyEndpoint[upstream.verification]
  if (endpointsByHand(upstream) && upstream[needed] === undefined) {
    issues.push(
      `upstream.${needed}: required by upstream.verification "${upstream.verification}" when the endpoints are given by hand (no discovery)`,
    )
  }
  if (upstream.verification !== "jwt" && config.verification_mode !== "access_token") {
    issues.push(
      `upstream.verification: "${upstream.verification}" verifies the upstream access token; it needs verification_mode "access_token"`,
    )
  }
  if (upstream.verification === "userinfo" && upstream.access_token_client_id) {
    issues.push(
      `upstream.access_token_client_id: cannot be checked by upstream.verification "userinfo" (a userinfo answer does not name the client); use "jwt" or "introspection"`,
    )
  }
  return issues
}

const schemaIssues = (issue: SchemaIssue.Issue): Array<string> =>
  formatter(issue).issues.map(
    (i) =>
      `${(i.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".") || "(root)"}: ${i.message}`,
  )

/**
 * Decodes a configuration, reporting every bad field at once, then the upstream combinations that
 * cannot work (`upstream.token_endpoint` without `upstream.authorization_endpoint`, a strategy's
 * endpoint missing when there is no discovery).
 *
 * @category constructors
 * @since 0.1.0
 */
export const decode = (input: unknown): Effect.Effect<ProxyConfig, InvalidConfig> =>
  Schema.decodeUnknownEffect(ProxyConfig)(input, { errors: "all" }).pipe(
    Effect.mapError((error) => new InvalidConfig({ issues: schemaIssues(error.issue) })),
    Effect.flatMap((config) => {
      const issues = upstreamIssues(config)
      return issues.length === 0 ? Effect.succeed(config) : Effect.fail(new InvalidConfig({ issues }))
    }),
  )

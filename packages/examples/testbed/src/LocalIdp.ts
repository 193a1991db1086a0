/**
 * A real OpenID Provider (panva's `oidc-provider` 9) on 127.0.0.1, used as the upstream IdP in tests.
 *
 * Testing adapter; depends on `oidc-provider` and `jose`. It serves discovery, JWKS, authorization (with
 * oidc-provider's dev login and consent pages), token, refresh, revocation and introspection. Access tokens are
 * JWTs bound to one configurable audience through resource indicators (RFC 8707), so they carry `scope` and
 * `aud`. PKCE (RFC 7636) is required of every client.
 *
 * With `tokenExchange`, the token endpoint also takes RFC 8693 token exchanges (registered with
 * `provider.registerGrantType`): the subject token must be an access token this provider issued to
 * the calling client (its signature, issuer, audience and expiry are checked with the provider's
 * own key), and the answer is a new JWT access token for the requested audience, with `act`.
 *
 * The `sameJwt` mode imitates SAP Cloud Identity Services: the token endpoint answers with the id_token in
 * both `access_token` and `id_token` (see {@link LocalIdpOptions.sameJwt}). `accessTokenShape` and
 * `audienceParameter` give the access tokens another provider's documented shape (Keycloak's `azp` and
 * audience mappers, Okta's `scp` array, Cognito's `client_id` without `aud`, Auth0's `audience`).
 *
 * @since 0.1.0
 */
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose"
import Provider, { type Client, type Configuration, errors, type KoaContextWithOIDC } from "oidc-provider"
import { close, listen } from "./internal/net.ts"

/**
 * The one pre-registered confidential client (the proxy's upstream identity).
 *
 * @category models
 * @since 0.1.0
 */
export interface LocalIdpClient {
  readonly client_id: string
  readonly client_secret: string
  readonly redirect_uris: ReadonlyArray<string>
  /** How the client authenticates at the token, revocation and introspection endpoints. */
  readonly token_endpoint_auth_method: "client_secret_basic" | "client_secret_post"
  /**
   * Accept a loopback redirect_uri (`http://127.0.0.1:<any port>/path`) whatever its port, as RFC 8252 §7.3
   * asks for native apps. Lets a test start the IdP before the proxy whose callback port is picked by the OS.
   * Implemented by registering the client with `application_type: "native"`. Default false.
   */
  readonly loopbackAnyPort: boolean
}

/**
 * Claims of one dev account, keyed by account id (the login typed into the dev login form).
 *
 * @category models
 * @since 0.1.0
 */
export interface AccountClaims {
  readonly email?: string
  readonly email_verified?: boolean
  readonly name?: string
  readonly given_name?: string
  readonly family_name?: string
  readonly preferred_username?: string
  /** Provider-specific claims (Entra `tid`, Google `hd`, `groups`), put in the id_token and access token. */
  readonly extra?: Readonly<Record<string, unknown>>
}

/**
 * Token lifetimes in seconds.
 *
 * @category models
 * @since 0.1.0
 */
export interface LocalIdpTtl {
  /** Default 300. */
  readonly accessToken?: number
  /** Default: the access-token TTL (so a `sameJwt` token lives as long as the access token it stands for). */
  readonly idToken?: number
  /** Default 3600. */
  readonly refreshToken?: number
  /** Default 60. */
  readonly authorizationCode?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface LocalIdpOptions {
  /** Port to listen on; default 0 (a free port). */
  readonly port?: number
  /**
   * The public issuer URL, when clients reach the IdP through something in front of it (e.g. a
   * fault-injecting proxy); default `http://127.0.0.1:<port>`.
   */
  readonly issuer?: string
  /** Default: `proxy-client` / a random secret / `client_secret_basic` / `http://127.0.0.1:1/callback`. */
  readonly client?: Partial<LocalIdpClient>
  /**
   * Dev accounts. Any login is accepted by the dev login form; a login that is not listed here gets
   * `email: <login>@example.test`. Default: `{ ada: { email: "ada@example.test", name: "Ada Lovelace" } }`.
   */
  readonly accounts?: Readonly<Record<string, AccountClaims>>
  /** Custom (resource) scopes besides `openid profile email offline_access`; default `["mcp:read", "mcp:write"]`. */
  readonly scopes?: ReadonlyArray<string>
  /**
   * `aud` of the JWT access tokens and the only resource indicator accepted; it is also the default resource,
   * so clients need not send `resource`. Default `urn:oidc-proxy:upstream-api`.
   */
  readonly audience?: string
  readonly ttl?: LocalIdpTtl
  /**
   * Issue a refresh token only when `offline_access` was granted (oidc-provider's default). Default false:
   * every client allowed the `refresh_token` grant gets one, so no extra `prompt=consent` is needed.
   */
  readonly refreshTokenRequiresOfflineAccess?: boolean
  /** Enable Dynamic Client Registration (RFC 7591) at `/reg`; default false. */
  readonly registration?: boolean
  /**
   * SAP Cloud Identity Services imitation: the token endpoint returns the id_token (aud = client_id, signed
   * with the JWKS, no `scope`/`scp` claim) as `access_token` too. Default false.
   */
  readonly sameJwt?: boolean
  /**
   * Enable the RFC 8693 token-exchange grant for the client, and Entra's on-behalf-of form of it
   * (the JWT bearer grant with `requested_token_use=on_behalf_of`); default off.
   */
  readonly tokenExchange?: TokenExchangeOptions
  /**
   * Path the provider is mounted at, so the issuer is `http://127.0.0.1:<port><issuerPath>` (Entra's
   * `/{tenant id}/v2.0`, Keycloak's `/realms/{realm}`). A trailing `/` stays in the issuer only
   * (Auth0's `https://{domain}/`); the endpoints are below the path without it. Default: none.
   */
  readonly issuerPath?: string
  /**
   * Reshape the JWT access tokens as another provider writes them: the token endpoint's access token
   * (code and refresh grants alike) is replaced by one signed with the same key, whose payload is
   * `claims` of what oidc-provider issued (`sub`, `client_id`, `aud`, `scope`, `iss`, `jti`, `iat`,
   * `exp`, the account's `extra`) and the scopes granted (the authorization code's or refresh token's,
   * `openid` and the like included). Opaque access tokens are left alone. Default: none.
   */
  readonly accessTokenShape?: AccessTokenShape
  /**
   * The authorization parameter that names the API, as Auth0's `audience`: its value is taken as the
   * resource indicator (it must equal `audience`), and there is no default resource, so an
   * authorization request without it gets an opaque access token, as Auth0 issues. Default: none.
   */
  readonly audienceParameter?: string
  /**
   * A second discovery document at `<path>/.well-known/openid-configuration`: the provider's own, with
   * its `issuer` replaced by `issuer` (Entra's multi-tenant `/organizations/v2.0` document naming the
   * `{tenantid}` template). Default: none.
   */
  readonly aliasDiscovery?: { readonly path: string; readonly issuer: (base: string) => string }
  /**
   * Hide oidc-provider's start-up warnings about its development-only parts (in-memory adapter, dev
   * interactions), which are intentional here. Other warnings still print. Default true.
   */
  readonly quiet?: boolean
}

/**
 * See {@link LocalIdpOptions.accessTokenShape}.
 *
 * @category models
 * @since 0.1.0
 */
export interface AccessTokenShape {
  readonly claims: (
    issued: Readonly<Record<string, unknown>>,
    granted: { readonly scope: string },
  ) => Record<string, unknown>
  /** The JWT header's `typ`; default none (oidc-provider's own tokens say `at+jwt`). */
  readonly typ?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface TokenExchangeOptions {
  /** Lifetime of an exchanged token, seconds (its `expires_in`). Default 300. */
  readonly ttl?: number
  /** Audiences a token may be exchanged for; another is `invalid_target`. Default `["urn:testbed:downstream"]`. */
  readonly audiences?: ReadonlyArray<string>
}

/**
 * The token-exchange grant at run time: what it was asked and issued, and how it answers next.
 *
 * @category models
 * @since 0.1.0
 */
export interface TokenExchangeControl {
  /** Token-exchange requests received (answered or not). */
  requests: number
  /** The tokens issued, in order. */
  readonly issued: Array<string>
  /** `ok` (default), `refuse` (`invalid_grant`: the subject is no longer accepted), `outage` (HTTP 503). */
  mode: "ok" | "refuse" | "outage"
  /** Lifetime of the next exchanged tokens, seconds (from `TokenExchangeOptions.ttl`). */
  ttl: number
}

/**
 * RFC 8693 identifiers.
 *
 * @category constants
 * @since 0.1.0
 */
export const tokenExchange = {
  grantType: "urn:ietf:params:oauth:grant-type:token-exchange",
  accessTokenType: "urn:ietf:params:oauth:token-type:access_token",
  /** Entra's on-behalf-of request (`requested_token_use=on_behalf_of`, `assertion`, `scope`). */
  jwtBearerGrantType: "urn:ietf:params:oauth:grant-type:jwt-bearer",
} as const

/**
 * A running LocalIdp.
 *
 * @category models
 * @since 0.1.0
 */
export interface LocalIdp {
  /** `http://127.0.0.1:<port>`; discovery is at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string
  readonly port: number
  readonly audience: string
  readonly clients: ReadonlyArray<LocalIdpClient>
  readonly accounts: Readonly<Record<string, AccountClaims>>
  readonly sameJwt: boolean
  /** The token-exchange grant's state, when `tokenExchange` was enabled. */
  readonly tokenExchange: TokenExchangeControl | undefined
  /** The oidc-provider instance, for tests that need its internals. */
  readonly provider: Provider
  close(): Promise<void>
}

const defaultAccounts: Record<string, AccountClaims> = {
  ada: { email: "ada@example.test", email_verified: true, name: "Ada Lovelace", preferred_username: "ada" },
}

const oidcScopes = ["openid", "profile", "email", "offline_access"]

/**
 * Starts oidc-provider on 127.0.0.1.
 *
 * The HTTP server is bound first (port 0 allowed) because the issuer, which embeds the port, must be known
 * before oidc-provider is constructed. Signing keys and cookie keys are generated per instance, so nothing
 * is shared between tests.
 *
 * @category constructors
 * @since 0.1.0
 */
export const startLocalIdp = async (options: LocalIdpOptions = {}): Promise<LocalIdp> => {
  const server = createServer()
  const port = await listen(server, options.port ?? 0)
  const base = `http://127.0.0.1:${port}`
  const mount = (options.issuerPath ?? "").replace(/\/$/, "")
  const issuer = options.issuer ?? `${base}${options.issuerPath ?? ""}`
  const client: LocalIdpClient = {
    client_id: options.client?.client_id ?? "proxy-client",
    client_secret: options.client?.client_secret ?? randomBytes(24).toString("base64url"),
    redirect_uris: options.client?.redirect_uris ?? ["http://127.0.0.1:1/callback"],
    token_endpoint_auth_method: options.client?.token_endpoint_auth_method ?? "client_secret_basic",
    loopbackAnyPort: options.client?.loopbackAnyPort ?? false,
  }
  const accounts = options.accounts ?? defaultAccounts
  const audience = options.audience ?? "urn:oidc-proxy:upstream-api"
  const sameJwt = options.sameJwt ?? false

  let provider: Provider
  // Own keys instead of oidc-provider's shared dev keystore: a verifier in a test must not accept a token
  // minted by another LocalIdp instance.
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true })
  const jwk = { ...(await exportJWK(privateKey)), kid: `idp-${randomBytes(6).toString("hex")}`, use: "sig" }
  const exchange: TokenExchangeControl | undefined =
    options.tokenExchange === undefined
      ? undefined
      : { requests: 0, issued: [], mode: "ok", ttl: options.tokenExchange.ttl ?? 300 }
  try {
    const config = await configuration(client, accounts, audience, options, jwk)
    provider =
      (options.quiet ?? true)
        ? withoutDevOnlyWarnings(() => new Provider(issuer, config))
        : new Provider(issuer, config)
  } catch (error) {
    // A bad configuration must not leave the port bound.
    await close(server)
    throw error
  }
  if (sameJwt) provider.use(sameJwtMiddleware)
  if (options.accessTokenShape !== undefined)
    provider.use(reshapeMiddleware(options.accessTokenShape, privateKey, jwk.kid))
  if (options.audienceParameter !== undefined) provider.use(audienceMiddleware(options.audienceParameter))
  if (exchange !== undefined)
    registerTokenExchange(provider, exchange, options.tokenExchange?.audiences, {
      issuer,
      audience,
      publicKey,
      privateKey,
      kid: jwk.kid,
    })
  const handle = provider.callback()
  const alias = options.aliasDiscovery
  server.on("request", (req, res) => {
    const url = req.url ?? "/"
    if (alias !== undefined && url === `${alias.path}/.well-known/openid-configuration`) {
      void serveAlias(`${issuer}/.well-known/openid-configuration`, alias.issuer(base), res)
      return
    }
    if (mount !== "" && !url.startsWith(`${mount}/`)) {
      res.writeHead(404).end()
      return
    }
    // oidc-provider reads its mount path from `originalUrl` (as under Express's `app.use(path, …)`).
    ;(req as { originalUrl?: string }).originalUrl = url
    req.url = url.slice(mount.length)
    handle(req, res)
  })

  return {
    issuer,
    port,
    audience,
    clients: [client],
    accounts,
    sameJwt,
    tokenExchange: exchange,
    provider,
    close: () => close(server),
  }
}

const configuration = async (
  client: LocalIdpClient,
  accounts: Readonly<Record<string, AccountClaims>>,
  audience: string,
  options: LocalIdpOptions,
  jwk: Record<string, unknown>,
): Promise<Configuration> => {
  const customScopes = options.scopes ?? ["mcp:read", "mcp:write"]
  const accessTokenTTL = options.ttl?.accessToken ?? 300
  const requireOffline = options.refreshTokenRequiresOfflineAccess ?? false

  return {
    clients: [
      {
        client_id: client.client_id,
        client_secret: client.client_secret,
        token_endpoint_auth_method: client.token_endpoint_auth_method,
        redirect_uris: [...client.redirect_uris],
        application_type: client.loopbackAnyPort ? "native" : "web",
        grant_types: [
          "authorization_code",
          "refresh_token",
          ...(options.tokenExchange === undefined
            ? []
            : [tokenExchange.grantType, tokenExchange.jwtBearerGrantType]),
        ],
        response_types: ["code"],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => {
        const { extra, ...standard } = accounts[sub] ?? {}
        return { sub, email: `${sub}@example.test`, email_verified: true, ...standard, ...extra }
      },
    }),
    extraTokenClaims: (_ctx, token) => {
      const sub = (token as { accountId?: string }).accountId
      return sub === undefined ? undefined : { ...accounts[sub]?.extra }
    },
    claims: {
      openid: ["sub", ...extraClaimNames(accounts)],
      profile: ["name", "given_name", "family_name", "preferred_username"],
      email: ["email", "email_verified"],
    },
    scopes: [...oidcScopes, ...customScopes],
    // Put scope-requested claims (email, name) into the id_token too: the proxy reads identity from the
    // id_token, and the JWT access tokens are not valid at the userinfo endpoint.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    // A terse error page (instead of the default one, which prints a notice): HeadlessBrowser quotes its text
    // when it gets stuck, so a test failure names the OAuth error.
    renderError: (ctx, out) => {
      ctx.type = "html"
      ctx.body = `<!doctype html><title>error</title><p>${escapeHtml(`${out.error}: ${out.error_description ?? ""}`)}</p>`
    },
    issueRefreshToken: (_ctx, c, code) =>
      c.grantTypeAllowed("refresh_token") && (!requireOffline || code.scopes.has("offline_access")),
    // Any origin may call: the MCP SDK client runs discovery with CORS semantics in browsers only, but a
    // permissive policy costs nothing here.
    clientBasedCORS: () => true,
    ttl: {
      AccessToken: accessTokenTTL,
      IdToken: options.ttl?.idToken ?? accessTokenTTL,
      RefreshToken: options.ttl?.refreshToken ?? 3600,
      AuthorizationCode: options.ttl?.authorizationCode ?? 60,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    features: {
      devInteractions: { enabled: true },
      // oidc-provider's default policies, restated so it does not print a notice on every call.
      revocation: { enabled: true, allowedPolicy: revocationPolicy },
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx, c, token) => c.clientAuthMethod !== "none" || token.clientId === c.clientId,
      },
      registration: { enabled: options.registration ?? false },
      resourceIndicators: {
        enabled: true,
        // With `audienceParameter`, none: a request that does not name the API gets an opaque token.
        defaultResource: () => (options.audienceParameter === undefined ? audience : undefined),
        // The token endpoint may omit `resource` and still get the granted audience (JWT), not an opaque
        // userinfo token.
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== audience) throw new errors.InvalidTarget()
          return {
            scope: customScopes.join(" "),
            audience,
            accessTokenFormat: "jwt",
            accessTokenTTL,
            jwt: { sign: { alg: "RS256" } },
          }
        },
      },
    },
  }
}

/**
 * The RFC 8693 grant: checks the subject token with the provider's own key (issuer, the upstream
 * audience, `at+jwt`, expiry) and that it was issued to the calling client, then signs a new access
 * token for the requested audience with `act` naming the client (RFC 8693 §4.1).
 */
const registerTokenExchange = (
  provider: Provider,
  control: TokenExchangeControl,
  allowedAudiences: ReadonlyArray<string> | undefined,
  keys: {
    readonly issuer: string
    readonly audience: string
    readonly publicKey: CryptoKey
    readonly privateKey: CryptoKey
    readonly kid: string
  },
) => {
  const audiences = allowedAudiences ?? ["urn:testbed:downstream"]
  const handler = async (ctx: KoaContextWithOIDC) => {
    control.requests += 1
    if (control.mode === "outage") {
      ctx.status = 503
      ctx.body = { error: "temporarily_unavailable", error_description: "exchange outage (test)" }
      return
    }
    const params = ctx.oidc.params as Record<string, string | undefined>
    const { subjectToken, audience, onBehalfOf } = exchangeRequest(params, audiences)
    if (control.mode === "refuse") throw new errors.InvalidGrant("the subject token is no longer accepted")
    const client = ctx.oidc.client!
    const subject = await jwtVerify(subjectToken, keys.publicKey, {
      issuer: keys.issuer,
      audience: keys.audience,
      typ: "at+jwt",
    }).catch(() => undefined)
    if (subject === undefined) throw new errors.InvalidGrant("invalid subject_token")
    if (subject.payload["client_id"] !== client.clientId)
      throw new errors.InvalidGrant("the subject token was not issued to this client")
    const scope = params["scope"]
    const ttl = control.ttl
    const token = await new SignJWT({
      client_id: client.clientId,
      act: { sub: client.clientId },
      ...(scope === undefined ? {} : { scope }),
    })
      .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: keys.kid })
      .setIssuer(keys.issuer)
      .setSubject(String(subject.payload.sub))
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${ttl}s`)
      .setJti(randomBytes(12).toString("base64url"))
      .sign(keys.privateKey)
    control.issued.push(token)
    ctx.body = {
      access_token: token,
      // Entra's on-behalf-of answer has no issued_token_type.
      ...(onBehalfOf ? {} : { issued_token_type: tokenExchange.accessTokenType }),
      token_type: "Bearer",
      expires_in: ttl,
      ...(scope === undefined ? {} : { scope }),
    }
  }
  provider.registerGrantType(tokenExchange.grantType, handler, [
    "subject_token",
    "subject_token_type",
    "requested_token_type",
    "audience",
    "resource",
    "scope",
    "actor_token",
    "actor_token_type",
  ])
  provider.registerGrantType(tokenExchange.jwtBearerGrantType, handler, [
    "assertion",
    "requested_token_use",
    "scope",
  ])
}

/**
 * The subject token and audience of a request: RFC 8693's form, or Entra's on-behalf-of form whose
 * audience is its `scope` without `/.default` (`api://downstream/.default` → `api://downstream`).
 */
const exchangeRequest = (
  params: Record<string, string | undefined>,
  audiences: ReadonlyArray<string>,
): { readonly subjectToken: string; readonly audience: string; readonly onBehalfOf: boolean } => {
  const onBehalfOf = params["grant_type"] === tokenExchange.jwtBearerGrantType
  if (onBehalfOf) {
    if (params["requested_token_use"] !== "on_behalf_of")
      throw new errors.InvalidRequest("requested_token_use must be on_behalf_of")
  } else {
    if (params["subject_token_type"] !== tokenExchange.accessTokenType)
      throw new errors.InvalidRequest("subject_token_type must be an access token")
    const requested = params["requested_token_type"]
    if (requested !== undefined && requested !== tokenExchange.accessTokenType)
      throw new errors.InvalidRequest("only access tokens are issued")
  }
  const audience = onBehalfOf
    ? (params["scope"] ?? "").replace(/\/\.default$/, "")
    : (params["audience"] ?? audiences[0]!)
  if (!audiences.includes(audience)) throw new errors.InvalidTarget("unknown audience")
  return {
    subjectToken: (onBehalfOf ? params["assertion"] : params["subject_token"]) ?? "",
    audience,
    onBehalfOf,
  }
}

/**
 * oidc-provider prints its dev-only warnings with `console.warn` while the constructor runs; the constructor
 * is synchronous, so swapping `console.warn` for its duration cannot swallow anyone else's output.
 */
const withoutDevOnlyWarnings = <A>(construct: () => A): A => {
  const warn = console.warn
  console.warn = (...args: Array<unknown>) => {
    if (!String(args[0]).includes("development-only")) warn(...args)
  }
  try {
    return construct()
  } finally {
    console.warn = warn
  }
}

const extraClaimNames = (accounts: Readonly<Record<string, AccountClaims>>): Array<string> => [
  ...new Set(Object.values(accounts).flatMap((a) => Object.keys(a.extra ?? {}))),
]

/** The provider's discovery document with another `issuer`, fetched from itself. */
const serveAlias = async (own: string, issuer: string, res: import("node:http").ServerResponse) => {
  try {
    const doc = (await (await fetch(own)).json()) as Record<string, unknown>
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ...doc, issuer }))
  } catch {
    res.writeHead(502).end()
  }
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** A client revokes only its own tokens; a confidential client asking for another's gets invalid_request. */
const revocationPolicy = (
  _ctx: KoaContextWithOIDC,
  client: Client,
  token: { readonly clientId?: string | undefined },
) => {
  if (token.clientId === client.clientId) return true
  if (client.clientAuthMethod === "none") return false
  throw new errors.InvalidRequest("client is not authorized to revoke the presented token")
}

/**
 * Replaces the token endpoint's JWT access token by one with `shape`'s claims, signed with the
 * provider's key. A token the gateway cannot tell from the provider's own: same issuer, key and `kid`.
 */
const reshapeMiddleware =
  (shape: AccessTokenShape, privateKey: CryptoKey, kid: string) =>
  async (ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> => {
    await next()
    if (ctx.oidc?.route !== "token" || ctx.status !== 200) return
    const body = ctx.body as Record<string, unknown> | undefined
    const token = body?.["access_token"]
    if (body === undefined || typeof token !== "string" || token.split(".").length !== 3) return
    const issued = decodeJwt(token)
    // The grant's scopes: the token response's `scope` names only the API's (oidc-provider's resource
    // indicators), where the providers imitated here list `openid` and the like too.
    const entities = ctx.oidc.entities as { readonly [k: string]: { readonly scope?: string } | undefined }
    const scope = entities["AuthorizationCode"]?.scope ?? entities["RefreshToken"]?.scope ?? ""
    body["access_token"] = await new SignJWT(shape.claims(issued, { scope }))
      .setProtectedHeader({ alg: "RS256", kid, ...(shape.typ === undefined ? {} : { typ: shape.typ }) })
      .sign(privateKey)
  }

/**
 * Auth0's `audience` authorization parameter as oidc-provider's `resource` (RFC 8707): the API a
 * request names decides whether its access token is a JWT for that API.
 */
const audienceMiddleware =
  (parameter: string) =>
  async (ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> => {
    const value = ctx.query[parameter]
    if (typeof value === "string" && ctx.method === "GET" && ctx.path === "/auth")
      ctx.query = { ...ctx.query, resource: value }
    await next()
  }

/**
 * SAP Cloud Identity Services returns one JWT as both `access_token` and `id_token`. oidc-provider always
 * mints a real access token; this middleware runs after the token endpoint and replaces it with the
 * id_token, which has `aud` = client_id and no `scope` claim. Covers the code and refresh grants alike.
 */
const sameJwtMiddleware = async (ctx: KoaContextWithOIDC, next: () => Promise<unknown>): Promise<void> => {
  await next()
  if (ctx.oidc?.route !== "token" || ctx.status !== 200) return
  const body = ctx.body as Record<string, unknown> | undefined
  if (body && typeof body["id_token"] === "string") body["access_token"] = body["id_token"]
}

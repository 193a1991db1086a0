/**
 * The proxy as a Web `fetch` handler (`Request → Promise<Response>`): discovery documents, DCR,
 * authorize, consent, the upstream callback, token, revoke, and the bearer check in front of the
 * protected resource. Runs on any runtime with the Fetch API (Node, Bun, Deno, Workers).
 *
 * Adapter over core's flows. Routing is by exact path below the issuer; every failure is rendered
 * by `Respond` (one mapper); a defect becomes a generic 500 and is logged without request data.
 * A bearer the proxy verified recently is answered before entering the Effect runtime
 * (`LoadAccessToken.makeCachedCheck`): the same decision `check` would reach, from the cache.
 *
 * @since 0.1.0
 */

import type {
  BearerDecision,
  Outcome,
  ProxyKeys,
  StorageKeys,
  Upstream,
  UpstreamVerifier,
} from "@oidc-proxy/core"
import {
  type AccessToken,
  Admission,
  AuthorizationEndpoint,
  CallbackEndpoint,
  ClientMetadataFetcher,
  Endpoints,
  LoadAccessToken,
  Metadata,
  ProxyConfig,
  Quota,
  RegisterEndpoint,
  RequestTarget,
  RevocationEndpoint,
  TokenEndpoint,
  TokenStore,
} from "@oidc-proxy/core"
import { Cause, Clock, Context, Data, Effect, type Layer, ManagedRuntime } from "effect"
import type { JSONWebKeySet } from "jose"
import * as Cors from "./Cors.ts"
import * as RequestInput from "./RequestInput.ts"
import * as Respond from "./Respond.ts"

/**
 * The services the handler runs over.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements =
  | ProxyConfig.Settings
  | TokenStore.TokenStore
  | StorageKeys.StorageKeys
  | ProxyKeys.ProxyKeys
  | UpstreamVerifier.UpstreamVerifier
  | Upstream.UpstreamClient

/** The `onAuthorized` hook rejected: a defect of the embedding code. */
class ForwardFailed extends Data.TaggedError("ForwardFailed")<{ readonly cause: unknown }> {}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Called for requests to the protected resource that pass the bearer check (e.g. the gateway's
   * reverse proxy). Without it such requests get 404. `requestId` is the id the handler was given,
   * for the hook's own log lines.
   */
  readonly onAuthorized?: (
    request: Request,
    token: AccessToken.AccessToken,
    requestId?: string,
  ) => Promise<Response> | Response
  /** Maximum request body, in bytes. Default 64 KiB. */
  readonly maxBodyBytes?: number
  /**
   * The origins a browser page may call the protected resource from (CORS); default `*`. The
   * public endpoints (discovery, register, token, revoke) allow any origin.
   */
  readonly corsOrigins?: Cors.Origins
  /** The proxy's public signing keys, published at `/jwks` when it signs asymmetrically. */
  readonly jwks?: JSONWebKeySet
}

/**
 * The handler: a request, and the id the caller logs it under (named in the one log line of a
 * 5xx answer).
 *
 * @category models
 * @since 0.1.0
 */
export type Handler = (request: Request, requestId?: string) => Promise<Response>

/**
 * What an edge in front of the handler may ask without entering it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Edge {
  readonly handler: Handler
  /**
   * The bearer check of a request to the protected resource from what is in memory alone: the
   * verified token when the verdict is "allow" now, `undefined` for anything else (not protected,
   * a method the resource does not take, no or refused bearer, not remembered) — then `handler`
   * answers. Allocation-free for a remembered token.
   */
  readonly tryFast: (
    method: string,
    path: string,
    authorization: string | undefined,
    nowMillis: number,
  ) => AccessToken.AccessToken | undefined
  /** The methods a path's route allows (its `Allow`), `undefined` for a path with no route. */
  readonly allow: (path: string) => ReadonlyArray<string> | undefined
  /** Whether `path` is the protected resource (or below it). */
  readonly isProtected: (path: string) => boolean
}

type Route = (request: Request, url: URL) => Effect.Effect<Response, Respond.Failure, Requirements>

interface Entry {
  readonly methods: ReadonlyArray<string>
  /** Its CORS scope; browser navigations (authorize, consent, callback) have none. */
  readonly cors?: Cors.Scope
  /** How its failures are answered: JSON, or for browser endpoints a redirect or an error page. */
  readonly kind: Respond.Kind
  readonly route: Route
}

/** The methods of the protected resource (MCP Streamable HTTP: POST, GET for SSE, DELETE). */
const resourceMethods: ReadonlyArray<string> = ["GET", "POST", "DELETE"]

type Flow = (request: Request, url: URL) => Effect.Effect<Outcome.Outcome, Respond.Failure, Requirements>

const authorization = (request: Request) => request.headers.get("authorization") ?? undefined

/** The OAuth endpoints: URL, methods, how a failure is answered (JSON or browser), the flow. */
const flows = (
  endpoints: Endpoints.Endpoints,
  limit: number,
): ReadonlyArray<readonly [string, ReadonlyArray<string>, Respond.Kind, Flow]> => [
  [
    endpoints.registration,
    ["POST"],
    "json",
    (request) =>
      Effect.flatMap(RequestInput.json(request, limit), (body) =>
        RegisterEndpoint.register(body, RequestInput.bearer(request), RequestInput.source(request)),
      ),
  ],
  [
    endpoints.authorization,
    ["GET"],
    "browser",
    (request, url) =>
      Effect.flatMap(RequestInput.params(url.searchParams), (p) =>
        AuthorizationEndpoint.authorize(p, RequestInput.cookies(request), RequestInput.source(request)),
      ),
  ],
  [
    endpoints.consent,
    ["POST"],
    "browser",
    (request) =>
      Effect.flatMap(RequestInput.form(request, limit), (f) =>
        AuthorizationEndpoint.consent(f, RequestInput.cookies(request)),
      ),
  ],
  [
    endpoints.callback,
    ["GET"],
    "browser",
    (request, url) =>
      Effect.flatMap(RequestInput.params(url.searchParams), (p) =>
        CallbackEndpoint.callback(p, RequestInput.cookies(request)),
      ),
  ],
  [
    endpoints.token,
    ["POST"],
    "json",
    (request) =>
      Effect.flatMap(RequestInput.form(request, limit), (f) =>
        TokenEndpoint.token(f, authorization(request), RequestInput.source(request)),
      ),
  ],
  [
    endpoints.revocation,
    ["POST"],
    "json",
    (request) =>
      Effect.flatMap(RequestInput.form(request, limit), (f) =>
        RevocationEndpoint.revoke(f, authorization(request)),
      ),
  ],
]

const document =
  (body: unknown, headers: Record<string, string> = { "access-control-allow-origin": "*" }): Route =>
  () =>
    Effect.succeed(Respond.json(200, body, { "cache-control": "public, max-age=300", ...headers }))

/**
 * The routes of the authorization server, by exact path, each with its table of methods; the JSON
 * endpoints are public for CORS, the browser endpoints (navigations) are not.
 */
const routeTable = (input: {
  readonly config: ProxyConfig.ProxyConfig
  readonly endpoints: Endpoints.Endpoints
  readonly options: Options
  readonly asMetadata: unknown
  readonly secureCookies: boolean
}): ReadonlyMap<string, Entry> => {
  const { endpoints, options } = input
  const issuerPath = new URL(endpoints.issuer).pathname.replace(/\/+$/, "")
  const routes = new Map<string, Entry>()
  const add = (url: string, methods: ReadonlyArray<string>, route: Route, kind: Respond.Kind = "json") =>
    routes.set(url.startsWith("/") ? url : new URL(url).pathname, {
      methods,
      kind,
      route,
      ...(kind === "json" ? { cors: "public" as const } : {}),
    })
  const asMetadata = document(input.asMetadata)
  // RFC 8414 §3.1: the path-inserted form; plus the issuer-relative forms clients also try.
  add(endpoints.authorizationServerMetadata, ["GET"], asMetadata)
  add(`${issuerPath}/.well-known/oauth-authorization-server`, ["GET"], asMetadata)
  add(`/.well-known/openid-configuration${issuerPath}`, ["GET"], asMetadata)
  add(`${issuerPath}/.well-known/openid-configuration`, ["GET"], asMetadata)
  add(endpoints.protectedResourceMetadata, ["GET"], document(Metadata.protectedResource(input.config)))
  if (options.jwks !== undefined) add(endpoints.jwks, ["GET"], document(options.jwks, {}))
  const limit = options.maxBodyBytes ?? RequestInput.defaultMaxBodyBytes
  const render = (o: Outcome.Outcome) => Respond.outcome(o, { secureCookies: input.secureCookies })
  for (const [url, methods, kind, flow] of flows(endpoints, limit))
    add(url, methods, (request, u) => Effect.map(flow(request, u), render), kind)
  return routes
}

/**
 * Builds the handler from the services in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Handler, never, Requirements> =>
  Effect.map(makeEdge(options), (edge) => edge.handler)

/**
 * Builds the handler and what an edge in front of it may ask (`tryFast`, `allow`), from the
 * services in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeEdge = (options: Options = {}): Effect.Effect<Edge, never, Requirements> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Requirements>()
    const config = Context.get(context, ProxyConfig.Settings)
    const endpoints = Endpoints.make(config)
    const routes = routeTable({
      config,
      endpoints,
      options,
      secureCookies: new URL(endpoints.issuer).protocol === "https:",
      asMetadata: Metadata.authorizationServer(config, {
        jwks: options.jwks !== undefined,
        clientIdMetadataDocuments: ClientMetadataFetcher.isConfigured(
          yield* ClientMetadataFetcher.ClientMetadataFetcher,
        ),
      }),
    })
    const admission = Admission.make(config)
    const clock = yield* Clock.Clock
    const cachedCheck = LoadAccessToken.makeCachedCheck(config, Context.get(context, TokenStore.TokenStore))
    const answer = answering(Effect.runPromiseWith(context), endpoints.issuer)
    const protect = protector({ options, endpoints, admission, clock, cachedCheck, answer })
    return {
      handler: dispatcher({ routes, admission, protect, answer, origins: options.corsOrigins ?? "*" }),
      allow: (path) =>
        routes.get(path)?.methods ?? (admission.isProtected(path) ? resourceMethods : undefined),
      isProtected: admission.isProtected,
      tryFast: (method, path, authorization, nowMillis) => {
        if (!(method === "POST" || method === "GET" || method === "DELETE" || method === "HEAD"))
          return undefined
        if (!admission.isProtected(path) || routes.has(path)) return undefined
        const bearer = admission.bearer(authorization)
        if (typeof bearer !== "string") return undefined
        const decision = cachedCheck(bearer, nowMillis)
        return decision?._tag === "Allow" ? decision.accessToken : undefined
      },
    }
  })

type Answer = ReturnType<typeof answering>

/** The protected resource: admission, then the cached verdict, else the whole check; then forward. */
const protector = (input: {
  readonly options: Options
  readonly endpoints: Endpoints.Endpoints
  readonly admission: Admission.Admission
  readonly clock: Clock.Clock
  readonly cachedCheck: ReturnType<typeof LoadAccessToken.makeCachedCheck>
  readonly answer: Answer
}) => {
  const { options, admission, clock, cachedCheck, answer } = input
  const answerJson = <A>(
    effect: Effect.Effect<A, Respond.Failure, Requirements>,
    request: Request,
    path: string,
    id: string | undefined,
  ) => answer(effect, "json", request, path, id)
  const deny = (d: BearerDecision.Deny) => Respond.deny(d, input.endpoints.protectedResourceMetadata)
  const onAuthorized = options.onAuthorized
  const forward =
    onAuthorized === undefined
      ? () => Promise.resolve(Respond.json(404, { error: "not_found" }))
      : forwarding(onAuthorized, answerJson)
  return (request: Request, path: string, requestId: string | undefined): Promise<Response> => {
    const bearer = admission.bearer(request.headers.get("authorization"))
    if (typeof bearer !== "string") return Promise.resolve(deny(bearer))
    const cached = cachedCheck(bearer, clock.currentTimeMillisUnsafe())
    if (cached !== undefined)
      return cached._tag === "Deny"
        ? Promise.resolve(deny(cached))
        : forward(request, cached.accessToken, requestId)
    return answerJson(
      Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Deny" ? d : d.accessToken)),
      request,
      path,
      requestId,
    ).then((d) => (d instanceof Response ? d : "_tag" in d ? deny(d) : forward(request, d, requestId)))
  }
}

const badTarget = () =>
  Respond.json(400, { error: "invalid_request", error_description: "the request-target is not a valid path" })

/**
 * Routing: the request-target rule, the route (or the protected resource, or 404), CORS, the
 * route's method table, then the route.
 */
const dispatcher = (input: {
  readonly routes: ReadonlyMap<string, Entry>
  readonly admission: Admission.Admission
  readonly protect: ReturnType<typeof protector>
  readonly answer: Answer
  readonly origins: Cors.Origins
}): Handler => {
  const { routes, admission, protect, answer, origins } = input
  const route = (
    request: Request,
    url: URL,
    path: string,
    entry: Entry | undefined,
    methods: ReadonlyArray<string>,
    requestId: string | undefined,
  ) => {
    if (request.method === "OPTIONS" && entry !== undefined)
      return Promise.resolve(new Response(null, { status: 204, headers: { allow: methods.join(", ") } }))
    const refused =
      request.method === "OPTIONS" ? undefined : RequestTarget.methodAnswer(request.method, methods)
    if (refused !== undefined) return Promise.resolve(Respond.methodRefused(methods))
    if (entry === undefined) return protect(request, path, requestId)
    // Metadata-document fetches this request causes count against its source (IPv6 by its /64).
    const flow = Effect.provideService(
      entry.route(request, url),
      ClientMetadataFetcher.Source,
      Quota.sourceBucket(RequestInput.source(request)),
    )
    return answer(flow, entry.kind, request, path, requestId)
  }
  return async (request, requestId) => {
    let url: URL
    try {
      url = new URL(request.url)
    } catch {
      return badTarget()
    }
    if (RequestTarget.originFormQueryIndex(url.pathname) < 0) return badTarget()
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname
    const entry = routes.get(path)
    const resource = entry === undefined && admission.isProtected(path)
    const methods = entry?.methods ?? (resource ? resourceMethods : undefined)
    if (methods === undefined) return Respond.json(404, { error: "not_found" })
    const scope = entry?.cors ?? (resource ? "resource" : undefined)
    const origin = request.headers.get("origin")
    if (scope === undefined || origin === null) return route(request, url, path, entry, methods, requestId)
    if (Cors.isPreflight(request)) return Cors.preflight(request, origins, scope, methods)
    return Cors.decorate(await route(request, url, path, entry, methods, requestId), origin, origins, scope)
  }
}

/**
 * Runs a route to its answer: a typed failure is mapped by `Respond.failure`, a defect is a
 * generic 500; every 5xx leaves one log line (request id, method, path without query, the
 * failure's tag and cause chain — never a header, a query, a body or a token).
 */
const answering =
  (run: <A>(effect: Effect.Effect<A, never, Requirements>) => Promise<A>, issuer: string) =>
  <A>(
    effect: Effect.Effect<A, Respond.Failure, Requirements>,
    kind: Respond.Kind,
    request: Request,
    path: string,
    requestId: string | undefined,
  ): Promise<A | Response> =>
    run(
      effect.pipe(
        Effect.matchCauseEffect({
          onSuccess: (a): Effect.Effect<A | Response> => Effect.succeed(a),
          onFailure: (cause) => {
            const failure = Cause.findErrorOption(cause)
            const response =
              failure._tag === "Some"
                ? Respond.fromFailure(failure.value, kind, issuer)
                : Respond.internal(kind)
            if (response.status < 500) return Effect.succeed(response)
            return Effect.logError("request failed").pipe(
              Effect.annotateLogs({
                ...(requestId === undefined ? {} : { request_id: requestId }),
                method: request.method,
                path,
                ...Respond.describeFailure(failure._tag === "Some" ? failure.value : Cause.squash(cause)),
              }),
              Effect.as(response),
            )
          },
        }),
      ),
    )

/** The `onAuthorized` hook, a rejection of which is a defect: 500, logged once. */
const forwarding =
  (
    onAuthorized: NonNullable<Options["onAuthorized"]>,
    answer: <A>(
      effect: Effect.Effect<A, Respond.Failure, Requirements>,
      request: Request,
      path: string,
      requestId: string | undefined,
    ) => Promise<A | Response>,
  ) =>
  (request: Request, token: AccessToken.AccessToken, requestId: string | undefined): Promise<Response> =>
    answer(
      Effect.tryPromise({
        try: () => Promise.resolve(onAuthorized(request, token, requestId)),
        catch: (cause) => new ForwardFailed({ cause }),
      }).pipe(Effect.orDie),
      request,
      new URL(request.url).pathname,
      requestId,
    ) as Promise<Response>

/**
 * Builds a handler from a layer providing every requirement; `dispose` releases the layer's
 * resources (store connections, background purges).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromLayer = async <E>(
  layer: Layer.Layer<Requirements, E>,
  options: Options = {},
): Promise<{ readonly handler: Handler; readonly dispose: () => Promise<void> }> => {
  const runtime = ManagedRuntime.make(layer)
  const handler = await runtime.runPromise(make(options))
  return { handler, dispose: () => runtime.dispose() }
}

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

import type { ProxyKeys, StorageKeys, Upstream, UpstreamVerifier } from "@oidc-proxy/core"
import {
  type AccessToken,
  AuthorizationEndpoint,
  CallbackEndpoint,
  ClientMetadataFetcher,
  Endpoints,
  LoadAccessToken,
  Metadata,
  OAuthError,
  type Outcome,
  ProxyConfig,
  RegisterEndpoint,
  RevocationEndpoint,
  TokenEndpoint,
  TokenStore,
} from "@oidc-proxy/core"
import { Cause, Clock, Context, Effect, type Layer, ManagedRuntime } from "effect"
import type { JSONWebKeySet } from "jose"
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

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Called for requests to the protected resource that pass the bearer check (e.g. the gateway's
   * reverse proxy). Without it such requests get 404.
   */
  readonly onAuthorized?: (request: Request, token: AccessToken.AccessToken) => Promise<Response> | Response
  /** Maximum request body, in bytes. Default 64 KiB. */
  readonly maxBodyBytes?: number
  /** The proxy's public signing keys, published at `/jwks` when it signs asymmetrically. */
  readonly jwks?: JSONWebKeySet
}

/**
 * @category models
 * @since 0.1.0
 */
export type Handler = (request: Request) => Promise<Response>

type Route = (request: Request, url: URL) => Effect.Effect<Response, unknown, Requirements>

/**
 * Builds the handler from the services in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Handler, never, Requirements> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Requirements>()
    const config = Context.get(context, ProxyConfig.Settings)
    const endpoints = Endpoints.make(config)
    const issuerUrl = new URL(endpoints.issuer)
    const issuerPath = issuerUrl.pathname.replace(/\/+$/, "")
    const resourceUrl = new URL(config.resource)
    const resourcePath = resourceUrl.pathname.replace(/\/+$/, "") || "/"
    const limit = options.maxBodyBytes ?? RequestInput.defaultMaxBodyBytes
    const secureCookies = issuerUrl.protocol === "https:"
    const run = Effect.runPromiseWith(context)
    const asMetadata = Metadata.authorizationServer(config, {
      jwks: options.jwks !== undefined,
      clientIdMetadataDocuments: ClientMetadataFetcher.isConfigured(
        yield* ClientMetadataFetcher.ClientMetadataFetcher,
      ),
    })
    const prMetadata = Metadata.protectedResource(config)
    const clock = yield* Clock.Clock
    const cachedCheck = LoadAccessToken.makeCachedCheck(config, Context.get(context, TokenStore.TokenStore))

    const respond = (kind: Respond.Kind, flow: Effect.Effect<Outcome.Outcome, unknown, Requirements>) =>
      flow.pipe(
        Effect.map((o) => Respond.outcome(o, { secureCookies })),
        Effect.catch((e: unknown) => Effect.succeed(answerFailure(e, kind))),
      )

    const answerFailure = (e: unknown, kind: Respond.Kind): Response => {
      if (e instanceof OAuthError.OAuthFailure) return Respond.failure(e, kind, endpoints.issuer)
      if (e instanceof RequestInput.BodyTooLarge) {
        return Respond.failure(
          OAuthError.oauth("invalid_request", "the request body is too large"),
          kind,
          endpoints.issuer,
        )
      }
      if (e instanceof OAuthError.StoreError || e instanceof OAuthError.UpstreamError)
        return Respond.unavailable(kind)
      return Respond.internal(kind)
    }

    const routes = new Map<string, { readonly methods: ReadonlyArray<string>; readonly route: Route }>()
    const add = (path: string, methods: ReadonlyArray<string>, route: Route) =>
      routes.set(path, { methods, route })

    const metadataRoute: Route = () =>
      Effect.succeed(
        Respond.json(200, asMetadata, {
          "cache-control": "public, max-age=300",
          "access-control-allow-origin": "*",
        }),
      )
    // RFC 8414 §3.1: the path-inserted form; plus the issuer-relative forms clients also try.
    add(new URL(endpoints.authorizationServerMetadata).pathname, ["GET"], metadataRoute)
    add(`${issuerPath}/.well-known/oauth-authorization-server`, ["GET"], metadataRoute)
    add(`/.well-known/openid-configuration${issuerPath}`, ["GET"], metadataRoute)
    add(`${issuerPath}/.well-known/openid-configuration`, ["GET"], metadataRoute)
    const prRoute: Route = () =>
      Effect.succeed(
        Respond.json(200, prMetadata, {
          "cache-control": "public, max-age=300",
          "access-control-allow-origin": "*",
        }),
      )
    add(new URL(endpoints.protectedResourceMetadata).pathname, ["GET"], prRoute)
    if (options.jwks !== undefined) {
      const jwks = options.jwks
      add(new URL(endpoints.jwks).pathname, ["GET"], () =>
        Effect.succeed(Respond.json(200, jwks, { "cache-control": "public, max-age=300" })),
      )
    }
    add(new URL(endpoints.registration).pathname, ["POST"], (request) =>
      respond(
        "json",
        Effect.flatMap(RequestInput.json(request, limit), (body) =>
          RegisterEndpoint.register(body, RequestInput.bearer(request), RequestInput.source(request)),
        ),
      ),
    )
    add(new URL(endpoints.authorization).pathname, ["GET"], (request, url) =>
      respond(
        "browser",
        Effect.flatMap(RequestInput.params(url.searchParams), (p) =>
          AuthorizationEndpoint.authorize(p, RequestInput.cookies(request), RequestInput.source(request)),
        ),
      ),
    )
    add(new URL(endpoints.consent).pathname, ["POST"], (request) =>
      respond(
        "browser",
        Effect.flatMap(RequestInput.form(request, limit), (f) =>
          AuthorizationEndpoint.consent(f, RequestInput.cookies(request)),
        ),
      ),
    )
    add(new URL(endpoints.callback).pathname, ["GET"], (request, url) =>
      respond(
        "browser",
        Effect.flatMap(RequestInput.params(url.searchParams), (p) =>
          CallbackEndpoint.callback(p, RequestInput.cookies(request)),
        ),
      ),
    )
    add(new URL(endpoints.token).pathname, ["POST"], (request) =>
      respond(
        "json",
        Effect.flatMap(RequestInput.form(request, limit), (f) =>
          TokenEndpoint.token(f, request.headers.get("authorization") ?? undefined),
        ),
      ),
    )
    add(new URL(endpoints.revocation).pathname, ["POST"], (request) =>
      respond(
        "json",
        Effect.flatMap(RequestInput.form(request, limit), (f) =>
          RevocationEndpoint.revoke(f, request.headers.get("authorization") ?? undefined),
        ),
      ),
    )

    const refuseToken = (description: string) =>
      Respond.deny(
        {
          _tag: "Deny",
          status: 401,
          error: "invalid_token",
          description,
          challenge: { error: "invalid_token", error_description: description },
        },
        endpoints.protectedResourceMetadata,
      )

    const protect: Route = (request) =>
      Effect.gen(function* () {
        const token = RequestInput.bearer(request)
        if (token !== undefined && token.length > RequestInput.maxTokenLength) {
          return refuseToken("The access token is too large")
        }
        // One token, one spelling: a second base64url spelling of a signature is not accepted.
        if (token !== undefined && !RequestInput.hasCanonicalEncoding(token)) {
          return refuseToken("The access token is not a well-formed JWT")
        }
        const decision = yield* LoadAccessToken.check(token)
        if (decision._tag === "Deny") return Respond.deny(decision, endpoints.protectedResourceMetadata)
        if (options.onAuthorized === undefined) return Respond.json(404, { error: "not_found" })
        const onAuthorized = options.onAuthorized
        return yield* Effect.promise(() => Promise.resolve(onAuthorized(request, decision.accessToken)))
      }).pipe(Effect.catch((e: unknown) => Effect.succeed(answerFailure(e, "json"))))

    const isResource = (path: string) =>
      resourcePath === "/" ? true : path === resourcePath || path.startsWith(`${resourcePath}/`)

    /** The bearer check from the verified-token cache alone; `undefined` = not remembered. */
    const protectFromCache = (request: Request): Promise<Response> | undefined => {
      const token = RequestInput.bearer(request)
      if (token === undefined || token.length > RequestInput.maxTokenLength) return undefined
      const decision = cachedCheck(token, clock.currentTimeMillisUnsafe())
      if (decision === undefined) return undefined
      if (decision._tag === "Deny")
        return Promise.resolve(Respond.deny(decision, endpoints.protectedResourceMetadata))
      if (options.onAuthorized === undefined)
        return Promise.resolve(Respond.json(404, { error: "not_found" }))
      const onAuthorized = options.onAuthorized
      return Promise.resolve()
        .then(() => onAuthorized(request, decision.accessToken))
        .catch(() =>
          run(
            Effect.logError("request failed with a defect").pipe(
              Effect.annotateLogs({ path: new URL(request.url).pathname, defect: "onAuthorized rejected" }),
              Effect.as(Respond.internal("json")),
            ),
          ),
        )
    }

    return async (request: Request): Promise<Response> => {
      let url: URL
      try {
        url = new URL(request.url)
      } catch {
        return Respond.json(400, { error: "invalid_request", error_description: "malformed request URL" })
      }
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, "") : url.pathname
      const entry = routes.get(path)
      if (entry === undefined && isResource(path)) {
        const fast = protectFromCache(request)
        if (fast !== undefined) return fast
      }
      const effect: Effect.Effect<Response, unknown, Requirements> | undefined =
        entry !== undefined
          ? entry.methods.includes(request.method) ||
            (request.method === "HEAD" && entry.methods.includes("GET"))
            ? entry.route(request, url)
            : request.method === "OPTIONS"
              ? Effect.succeed(
                  new Response(null, { status: 204, headers: { allow: entry.methods.join(", ") } }),
                )
              : Effect.succeed(
                  Respond.json(
                    405,
                    { error: "invalid_request", error_description: `use ${entry.methods.join(" or ")}` },
                    { allow: entry.methods.join(", ") },
                  ),
                )
          : isResource(path)
            ? protect(request, url)
            : undefined
      if (effect === undefined) return Respond.json(404, { error: "not_found" })
      return run(
        effect.pipe(
          Effect.catchCause((cause) =>
            Effect.logError("request failed with a defect").pipe(
              Effect.annotateLogs({ path, defect: Cause.pretty(cause).split("\n")[0]?.slice(0, 200) ?? "" }),
              Effect.as(Respond.internal("json")),
            ),
          ),
        ),
      )
    }
  })

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

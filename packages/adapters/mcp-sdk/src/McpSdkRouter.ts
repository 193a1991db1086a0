/**
 * The proxy's authorization-server routes on an Express app: the well-known documents, `/register`,
 * `/authorize`, `/consent`, the upstream callback, `/token`, `/revoke` (and `/jwks` when the proxy
 * signs asymmetrically), served by `@oidc-proxy/http`'s Web fetch handler.
 *
 * Adapter (Node, Express 5). Each matching Express request becomes a Web `Request` (body streamed,
 * not buffered) and the `Response` is written back chunk by chunk; any other path falls through to
 * the next middleware, so the MCP endpoint stays the app's own (behind `requireBearerAuth`). Mount
 * it at the application root, before body parsers: the proxy's paths are absolute (derived from
 * its issuer) and it reads and limits request bodies itself. A body a parser already consumed is
 * re-encoded from `req.body`. Behind a reverse proxy, `trustedProxies` names the peers whose
 * `X-Forwarded-For` gives the source per-source quotas count (as the gateway's
 * `OIDC_PROXY_TRUSTED_PROXIES`); Express's own `trust proxy` setting is not read.
 *
 * @since 0.1.0
 */
import type { ServerResponse } from "node:http"
import { Endpoints, ProxyConfig } from "@oidc-proxy/core"
import { TrustedProxies, WebHandler } from "@oidc-proxy/http"
import { NodeServer } from "@oidc-proxy/node"
import { Effect, Result } from "effect"
import type {
  Request as ExpressRequest,
  Response as ExpressResponse,
  NextFunction,
  RequestHandler,
} from "express"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Omit<WebHandler.Options, "onAuthorized"> {
  /**
   * The reverse proxies in front of the app, as a comma-separated list of IPv4/IPv6 addresses and
   * CIDR blocks (`TrustedProxies.parse`, the syntax of the gateway's `OIDC_PROXY_TRUSTED_PROXIES`).
   * A request from one of them counts against the right-most `X-Forwarded-For` address that is not
   * itself listed; any other caller's `X-Forwarded-For` is ignored. Default: none (the socket peer
   * is the source, so behind a proxy every caller shares one budget). A list that does not parse
   * (a malformed entry, `0.0.0.0/0`) is a defect when the router is built.
   */
  readonly trustedProxies?: string | undefined
}

const trim = (path: string) => (path.length > 1 ? path.replace(/\/+$/, "") : path)

/**
 * The paths the proxy answers as an authorization server, the same table `WebHandler.make` routes
 * by (the protected resource's paths are left to the app).
 *
 * @category constructors
 * @since 0.1.0
 */
export const paths = (
  config: Pick<ProxyConfig.ProxyConfig, "issuer" | "resource" | "callback_path">,
  options: { readonly jwks?: unknown } = {},
): ReadonlySet<string> => {
  const endpoints = Endpoints.make(config)
  const issuerPath = trim(new URL(endpoints.issuer).pathname).replace(/^\/$/, "")
  const pathOf = (url: string) => trim(new URL(url).pathname)
  return new Set([
    pathOf(endpoints.authorizationServerMetadata),
    `${issuerPath}/.well-known/oauth-authorization-server`,
    `/.well-known/openid-configuration${issuerPath}`,
    `${issuerPath}/.well-known/openid-configuration`,
    pathOf(endpoints.protectedResourceMetadata),
    pathOf(endpoints.registration),
    pathOf(endpoints.authorization),
    pathOf(endpoints.consent),
    pathOf(endpoints.callback),
    pathOf(endpoints.token),
    pathOf(endpoints.revocation),
    ...(options.jwks === undefined ? [] : [pathOf(endpoints.jwks)]),
  ])
}

/** A body an Express parser already read, encoded again by its content type. */
const parsedBody = (req: ExpressRequest): BodyInit | undefined => {
  const body: unknown = req.body
  if (body === undefined || body === null) return undefined
  if (typeof body === "string" || body instanceof Uint8Array) return body as BodyInit
  const type = req.headers["content-type"] ?? ""
  if (type.startsWith("application/x-www-form-urlencoded") && typeof body === "object") {
    const form = new URLSearchParams()
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      for (const v of Array.isArray(value) ? value : [value]) form.append(key, String(v))
    }
    return form
  }
  return JSON.stringify(body)
}

/**
 * An Express request as a Web `Request` below `origin` (a body an Express parser already read is
 * encoded again), its source the peer or, from a trusted proxy, the client it forwards for.
 *
 * @category constructors
 * @since 0.1.0
 */
export const toRequest = (
  req: ExpressRequest,
  origin: string,
  trustedProxies: TrustedProxies.TrustedProxies = TrustedProxies.none,
): Request => {
  const consumed =
    req.method !== "GET" && req.method !== "HEAD" && (req.readableEnded || req.body !== undefined)
  return NodeServer.toRequest(req, origin, {
    url: req.originalUrl,
    trustedProxies,
    ...(consumed ? { body: parsedBody(req) ?? null } : {}),
  })
}

/**
 * Writes a Web `Response` to a Node response, flushing each chunk as it comes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const writeResponse = NodeServer.writeResponse

/**
 * Express middleware answering `paths` with `handler` and passing everything else on. `origin`
 * makes request URLs absolute (the proxy's issuer origin; the Host header is not trusted).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromHandler =
  (
    handler: WebHandler.Handler,
    options: {
      readonly paths: ReadonlySet<string>
      readonly origin: string
      readonly trustedProxies?: TrustedProxies.TrustedProxies
    },
  ) =>
  (req: ExpressRequest, res: ExpressResponse, next: NextFunction): void => {
    const path = trim(new URL(req.originalUrl, options.origin).pathname)
    if (!options.paths.has(path)) {
      next()
      return
    }
    void (async () => {
      try {
        await writeResponse(
          await handler(toRequest(req, options.origin, options.trustedProxies)),
          res as ServerResponse,
        )
      } catch {
        // The handler answers its own failures; this is a broken connection or stream.
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" })
          res.end('{"error":"server_error","error_description":"An unexpected error occurred"}')
        } else res.destroy()
      }
    })()
  }

/**
 * The routes over the services in context. Dies when `options.trustedProxies` does not parse (a
 * misconfiguration, named in the defect's message).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<RequestHandler, never, WebHandler.Requirements> =>
  Effect.gen(function* () {
    const config = yield* ProxyConfig.Settings
    const trustedProxies = TrustedProxies.parse(options.trustedProxies ?? "")
    if (Result.isFailure(trustedProxies))
      return yield* Effect.die(new Error(`McpSdkRouter: trustedProxies: ${trustedProxies.failure}`))
    const handler = yield* WebHandler.make(options)
    return fromHandler(handler, {
      paths: paths(config, options),
      origin: new URL(config.issuer).origin,
      trustedProxies: trustedProxies.success,
    })
  })

/**
 * The proxy for an MCP SDK server in one value: the authorization-server routes for Express, the
 * token verifier for `requireBearerAuth`, and the URLs and scopes to give that middleware — all
 * over one runtime, so routes and verifier share the same store and keys.
 *
 * Adapter (Node, Express 5), assembling `McpSdkRouter` and `McpSdkVerifier`.
 *
 * @since 0.1.0
 */
import type { OAuthTokenVerifier } from "@modelcontextprotocol/sdk/server/auth/provider.js"
import { Endpoints, ProxyConfig } from "@oidc-proxy/core"
import type { WebHandler } from "@oidc-proxy/http"
import { Effect, type Layer, ManagedRuntime } from "effect"
import type { RequestHandler } from "express"
import * as McpSdkRouter from "./McpSdkRouter.ts"
import * as McpSdkVerifier from "./McpSdkVerifier.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface McpSdkProxy {
  /** Express middleware serving the proxy's routes; mount it at the app root. */
  readonly router: RequestHandler
  /** For `requireBearerAuth({ verifier })`. */
  readonly verifier: OAuthTokenVerifier
  /** The protected resource (the MCP endpoint's URL, the tokens' audience). */
  readonly resource: string
  /** The RFC 9728 metadata URL, for `requireBearerAuth({ resourceMetadataUrl })`. */
  readonly resourceMetadataUrl: string
  /** The configuration's `required_scopes`, for `requireBearerAuth({ requiredScopes })`. */
  readonly requiredScopes: Array<string>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends McpSdkRouter.Options, McpSdkVerifier.Options {}

/**
 * Builds routes and verifier over the services in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<McpSdkProxy, never, WebHandler.Requirements> =>
  Effect.gen(function* () {
    const config = yield* ProxyConfig.Settings
    const router = yield* McpSdkRouter.make(options)
    const verifier = yield* McpSdkVerifier.make(options)
    return {
      router,
      verifier,
      resource: config.resource,
      resourceMetadataUrl: Endpoints.make(config).protectedResourceMetadata,
      requiredScopes: [...config.required_scopes],
    }
  })

/**
 * Builds routes and verifier from a layer providing every requirement (e.g. `ProxyLayer.layer`
 * from `@oidc-proxy/node`); `dispose` releases the layer's resources.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromLayer = async <E>(
  layer: Layer.Layer<WebHandler.Requirements, E>,
  options: Options = {},
): Promise<McpSdkProxy & { readonly dispose: () => Promise<void> }> => {
  const runtime = ManagedRuntime.make(layer)
  const proxy = await runtime.runPromise(make(options))
  return { ...proxy, dispose: () => runtime.dispose() }
}

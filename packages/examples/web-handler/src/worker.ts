/**
 * oidc-proxy as a Web `fetch` module — `export default { fetch }`, the shape Cloudflare Workers,
 * Bun and Deno (`deno serve`) load — in front of an MCP server reached with `fetch`.
 *
 * Example program, portable: only Web APIs and `@oidc-proxy/core`, `@oidc-proxy/http`,
 * `@oidc-proxy/upstream-http` (`layerFetch`, i.e. global `fetch`) and the memory store; no `node:`
 * module, no `process`. The memory store lives in one isolate/process: for several instances
 * (Workers scale out) provide a shared store instead (see `packages/examples/custom-store`).
 *
 * @since 0.1.0
 */

import type { AccessToken } from "@oidc-proxy/core"
import { ProxyConfig, ProxyKeys, StorageKeys, TokenStore, UpstreamVerifier } from "@oidc-proxy/core"
import { IdentityHeaders, WebHandler } from "@oidc-proxy/http"
import * as MemoryStore from "@oidc-proxy/store-memory"
import { UpstreamHttp } from "@oidc-proxy/upstream-http"
import { Effect, Layer, Redacted } from "effect"

/**
 * The bindings (Workers `env`, or built from `Bun.env` / `Deno.env`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Env {
  /** The proxy's public base URL, e.g. `https://mcp-auth.example.com`. */
  readonly ISSUER: string
  /** The upstream IdP's issuer. */
  readonly UPSTREAM_ISSUER: string
  readonly UPSTREAM_CLIENT_ID: string
  readonly UPSTREAM_CLIENT_SECRET: string
  /** The proxy's master secret (signs its tokens, encrypts stored upstream tokens). */
  readonly PROXY_SECRET: string
  /** The MCP server the proxy protects; `{ISSUER}/mcp` is forwarded there. */
  readonly MCP_URL: string
  /** Space-separated scopes every MCP request needs; default none. */
  readonly REQUIRED_SCOPES?: string
  /** Upstream audience of access tokens (access_token verification); default unchecked. */
  readonly UPSTREAM_AUDIENCE?: string
  /** Extra parameters for the upstream authorize URL, as `key=value&…`. */
  readonly UPSTREAM_AUTHORIZE_PARAMS?: string
}

/**
 * Every service the handler needs, from `env`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (env: Env): Layer.Layer<WebHandler.Requirements, unknown> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* ProxyConfig.decode({
        issuer: env.ISSUER,
        resource: `${env.ISSUER.replace(/\/+$/, "")}/mcp`,
        required_scopes: (env.REQUIRED_SCOPES ?? "").split(" ").filter((s) => s !== ""),
        upstream: {
          issuer: env.UPSTREAM_ISSUER,
          client_id: env.UPSTREAM_CLIENT_ID,
          scopes: ["openid", "email", "offline_access"],
          ...(env.UPSTREAM_AUDIENCE === undefined ? {} : { audience: env.UPSTREAM_AUDIENCE }),
          ...(env.UPSTREAM_AUTHORIZE_PARAMS === undefined
            ? {}
            : {
                extra_authorize_params: Object.fromEntries(
                  new URLSearchParams(env.UPSTREAM_AUTHORIZE_PARAMS),
                ),
              }),
        },
      })
      const secret = Redacted.make(env.PROXY_SECRET)
      const upstream = UpstreamHttp.layerFetch({
        issuer: config.upstream.issuer,
        client_id: config.upstream.client_id,
        client_secret: Redacted.make(env.UPSTREAM_CLIENT_SECRET),
      })
      const storageKeys = StorageKeys.layer([{ kid: "k1", secret }])
      return Layer.mergeAll(
        ProxyKeys.layerFromSecret(secret),
        UpstreamVerifier.layerJwt.pipe(Layer.provide(upstream)),
        TokenStore.layer.pipe(Layer.provide(Layer.merge(MemoryStore.layer, storageKeys))),
        storageKeys,
        upstream,
      ).pipe(Layer.provideMerge(Layer.succeed(ProxyConfig.Settings, config)))
    }),
  )

/**
 * Forwards an authorized MCP request with the caller's identity in `X-Auth-Request-*` headers, by
 * `@oidc-proxy/http`'s `IdentityHeaders` rule, as the Node gateway does: the bearer token stays
 * here; every caller header whose name folds to an identity name (`X_Auth_Request_User`,
 * `X.Forwarded.Email`, …) is dropped; subject and email percent-encoded when not visible ASCII; the
 * email only when the IdP says it is verified (`trustUnverifiedEmail` to send it regardless).
 *
 * @category constructors
 * @since 0.1.0
 */
export const forward =
  (target: string, options: IdentityHeaders.Options = {}) =>
  (request: Request, token: AccessToken.AccessToken): Promise<Response> => {
    const headers = new Headers(request.headers)
    for (const name of [...headers.keys()]) {
      if (name === "authorization" || name === "host" || IdentityHeaders.isReservedIdentityName(name))
        headers.delete(name)
    }
    for (const [name, value] of Object.entries(IdentityHeaders.of(token, options))) headers.set(name, value)
    const hasBody = request.method !== "GET" && request.method !== "HEAD"
    return fetch(target, {
      method: request.method,
      headers,
      ...(hasBody ? { body: request.body, duplex: "half" } : {}),
      signal: request.signal,
    } as RequestInit)
  }

/**
 * Builds the handler for `env`; `dispose` releases its runtime.
 *
 * @category constructors
 * @since 0.1.0
 */
export const create = (env: Env) => WebHandler.fromLayer(layer(env), { onAuthorized: forward(env.MCP_URL) })

// One handler per isolate, built on the first request (Workers hand `env` to `fetch`).
let built: Promise<WebHandler.Handler> | undefined

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    built ??= create(env).then(
      (h) => h.handler,
      (error: unknown) => {
        built = undefined // let the next request try again (e.g. the IdP was briefly unreachable)
        throw error
      },
    )
    return built.then((handler) => handler(request))
  },
}

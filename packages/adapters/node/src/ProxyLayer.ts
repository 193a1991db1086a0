/**
 * The whole proxy assembled as one layer: configuration, keys, a store, the upstream IdP — every
 * service `@oidc-proxy/http`'s handler needs.
 *
 * Adapter (assembly). The proxy's HS256 tokens are signed and verified with `node:crypto`
 * (`NodeProxyKeys`), stored records are encrypted and hashed with `node:crypto`
 * (`NodeStorageKeys`, the WebCrypto format), and upstream JWTs are verified with `node:crypto`
 * `KeyObject`s (`NodeUpstreamVerifier`, jose decides everything else), or — with
 * `upstream.verification` `introspection`/`userinfo` — by a cached HTTP call (`HttpTokenVerifier`). A bad configuration fails the layer with `InvalidConfig` naming every bad
 * field; an unreachable or malformed upstream fails it with `DiscoveryError` naming the field.
 *
 * @since 0.1.0
 */
import { ProxyConfig, type StorageKeys, type Store, TokenStore } from "@oidc-proxy/core"
import type { WebHandler } from "@oidc-proxy/http"
import { HttpTokenVerifier, UpstreamHttp } from "@oidc-proxy/upstream-http"
import { Effect, Layer, type Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import * as NodeClientMetadataFetcher from "./NodeClientMetadataFetcher.ts"
import * as NodeProxyKeys from "./NodeProxyKeys.ts"
import * as NodeStorageKeys from "./NodeStorageKeys.ts"
import * as NodeUpstreamVerifier from "./NodeUpstreamVerifier.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The configuration, decoded with `ProxyConfig.decode`. */
  readonly config: unknown
  /** Master secrets, newest first: the first signs and encrypts, all verify and decrypt. */
  readonly secrets: readonly [StorageKeys.KeySecret, ...Array<StorageKeys.KeySecret>]
  /** The store. */
  readonly store: Layer.Layer<Store.Store, unknown>
  /** How to reach the upstream IdP (its issuer and client credentials). */
  readonly upstream: Omit<UpstreamHttp.Options, "issuer" | "issuerTemplate" | "client_id"> & {
    readonly client_secret: Redacted.Redacted<string>
  }
  /**
   * Options of the Client ID Metadata Document fetcher (size, timeout, extra CAs). Loopback is
   * allowed exactly when the configuration's `client_id_metadata_documents.allow_http_loopback` is.
   */
  readonly clientMetadata?: Omit<NodeClientMetadataFetcher.Options, "allowLoopback">
}

/** GitHub's application-token API, where a GitHub upstream's tokens are revoked. */
const gitHubRevocation = (upstream: ProxyConfig.ProxyConfig["upstream"]): string | undefined =>
  upstream.github_api_url === undefined
    ? undefined
    : `${upstream.github_api_url.replace(/\/+$/, "")}/applications/${encodeURIComponent(upstream.client_id)}/token`

/**
 * The endpoints the configuration gives by hand (see `ProxyConfig.UpstreamConfig`); a GitHub
 * upstream's revocation endpoint is its application-token API unless one is given.
 */
const endpointsOf = (upstream: ProxyConfig.ProxyConfig["upstream"]): UpstreamHttp.Endpoints => ({
  authorization_endpoint: upstream.authorization_endpoint,
  token_endpoint: upstream.token_endpoint,
  revocation_endpoint: upstream.revocation_endpoint ?? gitHubRevocation(upstream),
  userinfo_endpoint: upstream.userinfo_endpoint,
  introspection_endpoint: upstream.introspection_endpoint,
  jwks_uri: upstream.jwks_uri,
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<WebHandler.Requirements, unknown> => {
  const settings = Layer.effect(ProxyConfig.Settings, ProxyConfig.decode(options.config))
  return Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* ProxyConfig.decode(options.config)
      const { verification } = config.upstream
      const upstream = UpstreamHttp.layerFetch({
        ...options.upstream,
        issuer: config.upstream.issuer,
        issuerTemplate: config.upstream.issuer_template,
        client_id: config.upstream.client_id,
        endpoints: endpointsOf(config.upstream),
        verification,
        revocation: config.upstream.github_api_url === undefined ? "rfc7009" : "github",
      })
      const storageKeys = NodeStorageKeys.layer(options.secrets)
      const verifier =
        verification === "jwt"
          ? NodeUpstreamVerifier.layerJwt().pipe(Layer.provide(upstream))
          : HttpTokenVerifier.layer({
              verification,
              client_id: config.upstream.client_id,
              client_secret: options.upstream.client_secret,
              token_endpoint_auth_method: options.upstream.token_endpoint_auth_method,
              timeoutDuration: options.upstream.timeoutDuration,
            }).pipe(Layer.provide(Layer.mergeAll(upstream, storageKeys, FetchHttpClient.layer)))
      return Layer.mergeAll(
        // HS256 through node:crypto, synchronously (jose/WebCrypto decides anything unusual).
        // Every configured secret verifies, so a rotation does not invalidate issued tokens.
        NodeProxyKeys.layerFromSecrets([
          options.secrets[0].secret,
          ...options.secrets.slice(1).map((s) => s.secret),
        ]),
        verifier,
        TokenStore.layer.pipe(Layer.provide(Layer.merge(options.store, storageKeys))),
        storageKeys,
        upstream,
        NodeClientMetadataFetcher.layer({
          ...options.clientMetadata,
          allowLoopback: config.client_id_metadata_documents.allow_http_loopback,
        }),
      ).pipe(Layer.provideMerge(settings))
    }),
  )
}

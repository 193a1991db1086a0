/**
 * The port that fetches Client ID Metadata Documents and the key sets they name (`jwks_uri`).
 *
 * Port. An implementation must be SSRF-safe: https only (loopback http only under an explicit
 * development option), no redirects followed, connections only to public addresses it checked
 * itself (resolve, check with `AddressPolicy`, connect to that address), a small response size
 * limit, a short timeout, and a JSON `Content-Type`. The Node implementation is
 * `NodeClientMetadataFetcher` in `@oidc-proxy/node`.
 *
 * The default, when no implementation is provided, refuses every fetch (`disabled`), so a handler
 * built without one never reaches the network; such a proxy treats CIMD as off (`isConfigured`).
 *
 * @see [draft-ietf-oauth-client-id-metadata-document §6](https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/)
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { ClientMetadataError } from "./OAuthError.ts"

/**
 * A fetched JSON document.
 *
 * @category models
 * @since 0.1.0
 */
export interface Fetched {
  /** The parsed JSON body. */
  readonly body: unknown
  /** The response's `Cache-Control` header. */
  readonly cacheControl: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ClientMetadataFetcherShape {
  /** Fetches a JSON document from `url` under the SSRF rules. */
  readonly fetch: (url: string) => Effect.Effect<Fetched, ClientMetadataError>
}

/**
 * Who is asking for the current fetch (the client's network address, as the edge sees it), so a
 * fetcher can bound fetches per requesting source; `undefined` when the edge does not say.
 *
 * @category services
 * @since 0.1.0
 */
export const Source = Context.Reference<string | undefined>("@oidc-proxy/core/ClientMetadataFetcher/Source", {
  defaultValue: () => undefined,
})

const disabled: ClientMetadataFetcherShape = {
  fetch: () =>
    Effect.fail(
      new ClientMetadataError({
        reason: "disabled",
        description: "fetching client metadata documents is not configured",
      }),
    ),
}

/**
 * `false` for the default fetcher that refuses everything: a proxy without a real fetcher neither
 * advertises nor resolves Client ID Metadata Documents (URL client ids are unknown clients).
 *
 * @category utils
 * @since 0.1.0
 */
export const isConfigured = (fetcher: ClientMetadataFetcherShape): boolean => fetcher !== disabled

/**
 * @category services
 * @since 0.1.0
 */
export const ClientMetadataFetcher = Context.Reference<ClientMetadataFetcherShape>(
  "@oidc-proxy/core/ClientMetadataFetcher",
  { defaultValue: () => disabled },
)

/**
 * A scripted fetcher for tests: answers from `respond` and records every URL asked for in
 * `requests`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTest = (
  respond: (url: string) => Effect.Effect<Fetched, ClientMetadataError>,
  requests: Array<string> = [],
): Layer.Layer<never> =>
  Layer.succeed(ClientMetadataFetcher, {
    fetch: (url) =>
      Effect.suspend(() => {
        requests.push(url)
        return respond(url)
      }),
  })

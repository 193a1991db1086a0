/**
 * The downstream token of each forwarded request: the upstream access token behind the proxy
 * token, or what the IdP exchanges it for (RFC 8693, Entra on-behalf-of), held per upstream session.
 *
 * Adapter (assembly): core's `DownstreamTokenCache` over `TokenExchange` (upstream-http), keyed by
 * `StorageKeys.hash` of the upstream access token, with the proxy's upstream client credentials.
 * Only a token that can travel as a header value is forwarded (`DownstreamToken.isForwardable`; the
 * exchange's answer is checked before it is held). A token that cannot be obtained becomes the one
 * answer `Respond.downstreamTokenFailure` gives, and one warning line naming the reason and the
 * IdP's error code — never a token.
 *
 * @since 0.1.0
 */
import {
  type AccessToken,
  DownstreamToken,
  DownstreamTokenCache,
  OAuthError,
  ProxyConfig,
  StorageKeys,
  TokenStore,
  Upstream,
} from "@oidc-proxy/core"
import { Respond } from "@oidc-proxy/http"
import { TokenExchange } from "@oidc-proxy/upstream-http"
import { Effect, Option, type Redacted, type Scope } from "effect"
import { FetchHttpClient } from "effect/http"
import type { GatewayConfig } from "./GatewayConfig.ts"

/**
 * The downstream token of a request, or the answer that replaces forwarding it.
 *
 * @category models
 * @since 0.1.0
 */
export type Source = (token: AccessToken.AccessToken) => Effect.Effect<string | Response>

/** The upstream access token behind a proxy token, if its upstream token set is still there. */
const upstreamAccessToken = (token: AccessToken.AccessToken) =>
  Effect.gen(function* () {
    const store = yield* TokenStore.TokenStore
    // The token passed the bearer check already; only its jti is needed here.
    const payload = JSON.parse(Buffer.from(token.token.split(".")[1] ?? "", "base64url").toString()) as {
      jti?: unknown
    }
    if (typeof payload.jti !== "string") return undefined
    const mapping = yield* store.jtiMappings.get(payload.jti)
    if (Option.isNone(mapping)) return undefined
    const set = yield* store.upstreamTokenSets.get(mapping.value.upstream_token_set_id)
    return Option.isSome(set) ? set.value.access_token : undefined
  })

const noSubject = new OAuthError.DownstreamTokenError({
  reason: "no_subject",
  description: "no upstream access token behind the proxy token",
})

const notForwardable = new OAuthError.DownstreamTokenError({
  reason: "bad_response",
  description: "the upstream access token cannot be a header value",
})

/** The upstream access token as the downstream token, when it can travel as a header value. */
const forwardable = (token: string) =>
  DownstreamToken.isForwardable(token) ? Effect.succeed(token) : Effect.fail(notForwardable)

/** A failure as its answer, after one warning line (reason and IdP error code only). */
const answer = (error: OAuthError.DownstreamTokenError | OAuthError.StoreError) =>
  error._tag === "StoreError"
    ? Effect.succeed(Respond.unavailable("json"))
    : Effect.logWarning("downstream token not obtained").pipe(
        Effect.annotateLogs({
          reason: error.reason,
          ...(error.error === undefined ? {} : { idp_error: error.error }),
        }),
        Effect.as(Respond.downstreamTokenFailure(error)),
      )

/**
 * The source for `config.downstreamToken`, or `undefined` when the target gets none. Exchanges run
 * in the current scope; close it at shutdown.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  config: Pick<GatewayConfig, "downstreamToken" | "upstream">,
): Effect.Effect<
  Source | undefined,
  never,
  | Scope.Scope
  | TokenStore.TokenStore
  | StorageKeys.StorageKeys
  | Upstream.UpstreamClient
  | ProxyConfig.Settings
> =>
  Effect.gen(function* () {
    const downstream = config.downstreamToken
    if (downstream.mode === "off") return undefined
    const store = yield* TokenStore.TokenStore
    const subject = (token: AccessToken.AccessToken) =>
      upstreamAccessToken(token).pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.flatMap((value) => (value === undefined ? Effect.fail(noSubject) : Effect.succeed(value))),
      )
    if (downstream.mode === "upstream")
      return (token) => subject(token).pipe(Effect.flatMap(forwardable), Effect.catch(answer))
    const cache = yield* exchangeCache(downstream, config.upstream)
    return (token) =>
      subject(token).pipe(
        Effect.flatMap(cache.get),
        Effect.catch(answer),
        Effect.withSpan("oidc-proxy.downstream-token"),
      )
  })

const exchangeCache = (
  downstream: Extract<GatewayConfig["downstreamToken"], { readonly settings: unknown }>,
  upstream: {
    readonly client_secret: Redacted.Redacted<string>
    readonly token_endpoint_auth_method: "client_secret_basic" | "client_secret_post"
  },
) =>
  Effect.gen(function* () {
    const settings = yield* ProxyConfig.Settings
    const client = yield* Upstream.UpstreamClient
    const keys = yield* StorageKeys.StorageKeys
    const exchange = yield* TokenExchange.make({
      endpoint: downstream.endpoint?.href ?? client.metadata.token_endpoint,
      client_id: settings.upstream.client_id,
      client_secret: upstream.client_secret,
      token_endpoint_auth_method: upstream.token_endpoint_auth_method,
      settings: downstream.settings,
    }).pipe(Effect.provide(FetchHttpClient.layer))
    return yield* DownstreamTokenCache.make({ exchange, key: keys.hash })
  })

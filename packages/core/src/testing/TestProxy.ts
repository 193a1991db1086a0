/**
 * The proxy wired for tests: memory store, a fixed proxy secret, a local upstream JWKS, and the
 * given configuration. `layer` is everything `loadAccessToken` and `issueAccessToken` need;
 * `layerFull` adds the scripted upstream token endpoint and an observable store, so a test runs
 * authorize → consent → callback → token → check → refresh → revoke without I/O.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Redacted } from "effect"
import * as IssueAccessToken from "../IssueAccessToken.ts"
import * as Jwks from "../Jwks.ts"
import * as LoadAccessToken from "../LoadAccessToken.ts"
import * as ProxyConfig from "../ProxyConfig.ts"
import * as ProxyKeys from "../ProxyKeys.ts"
import * as StorageKeys from "../StorageKeys.ts"
import * as Store from "../Store.ts"
import * as TokenStore from "../TokenStore.ts"
import * as UpstreamVerifier from "../UpstreamVerifier.ts"
import * as TestStore from "./TestStore.ts"
import type { TestUpstream } from "./TestUpstream.ts"
import * as TestUpstreamClient from "./TestUpstreamClient.ts"

/**
 * A fixed master secret for tests (never use it elsewhere).
 *
 * @category constants
 * @since 0.1.0
 */
export const testSecret = Redacted.make("test-secret-test-secret-test-secret-0123456789")

/**
 * A configuration for `upstream`, with overrides.
 *
 * @category constructors
 * @since 0.1.0
 */
export const config = (upstream: TestUpstream, overrides: Record<string, unknown> = {}): unknown => ({
  issuer: "https://proxy.test",
  resource: "https://proxy.test/mcp",
  ...overrides,
  upstream: {
    issuer: upstream.issuer,
    client_id: upstream.clientId,
    ...(overrides["upstream"] as object | undefined),
  },
})

/**
 * The proxy keys of `layer` and `layerFull`: HS256 from `testSecret`, over jose by default or over
 * a synchronous HMAC (`ProxyKeys.makeHmacWith`) when `hmacFor` is given.
 *
 * @category layers
 * @since 0.1.0
 */
export const keysLayer = (
  hmacFor?: (key: Uint8Array) => ProxyKeys.HmacSha256,
): Layer.Layer<ProxyKeys.ProxyKeys, never, ProxyConfig.Settings> =>
  (hmacFor === undefined
    ? ProxyKeys.layerFromSecret(testSecret)
    : ProxyKeys.layerFromSecretWith(testSecret, hmacFor)
  ).pipe(Layer.orDie)

/**
 * The pipeline's layers over `store` (default: a memory store); `keys` replaces the proxy keys
 * (default `keysLayer()`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  upstream: TestUpstream,
  configInput: unknown,
  store: Layer.Layer<Store.Store> = Store.layerMemory,
  keys: Layer.Layer<ProxyKeys.ProxyKeys, never, ProxyConfig.Settings> = keysLayer(),
) => {
  const settings = Layer.effect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(configInput)))
  const jwks = Jwks.layerStatic(upstream.jwks)
  return Layer.mergeAll(
    keys,
    UpstreamVerifier.layerJwt.pipe(Layer.provide(jwks)),
    TokenStore.layer.pipe(
      Layer.provide(store),
      Layer.provide(StorageKeys.layer([{ kid: "k1", secret: testSecret }]).pipe(Layer.orDie)),
    ),
  ).pipe(Layer.provideMerge(settings))
}

/**
 * Everything the authorization-server flows need: `Settings`, `ProxyKeys`, `StorageKeys`, the
 * `Store` (memory unless `store` is given) with its `TestStore` observer, `TokenStore`, `Jwks`,
 * `UpstreamVerifier`, and the scripted `UpstreamClient` with its `TestUpstreamClient` handle.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerFull = (
  upstream: TestUpstream,
  configInput: unknown,
  options: {
    readonly store?: Layer.Layer<Store.Store>
    readonly client?: TestUpstreamClient.Options
    readonly keys?: Layer.Layer<ProxyKeys.ProxyKeys, never, ProxyConfig.Settings>
  } = {},
) => {
  const settings = Layer.effect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(configInput)))
  const storage = Layer.mergeAll(
    TestStore.layer(options.store ?? Store.layerMemory),
    StorageKeys.layer([{ kid: "k1", secret: testSecret }]).pipe(Layer.orDie),
  )
  return Layer.mergeAll(
    options.keys ?? keysLayer(),
    UpstreamVerifier.layerJwt.pipe(Layer.provideMerge(Jwks.layerStatic(upstream.jwks))),
    TokenStore.layer,
    TestUpstreamClient.layer(upstream, options.client),
  ).pipe(Layer.provideMerge(storage), Layer.provideMerge(settings))
}

/**
 * One upstream session (token set `ts` around `idToken`, valid until `expiresAt`, seconds) and a
 * proxy token over it for client `c1` / subject `u1` / scope `openid`: what the cache and
 * invalidation tests share.
 *
 * @category constructors
 * @since 0.1.0
 */
export const issueSession = (idToken: string, expiresAt: number) =>
  Effect.gen(function* () {
    const store = yield* TokenStore.TokenStore
    yield* store.upstreamTokenSets.set(
      "ts",
      {
        id: "ts",
        access_token: "opaque",
        id_token: idToken,
        token_type: "Bearer",
        scope: ["openid"],
        expires_at: expiresAt,
        raw: {},
      },
      "2 hours",
    )
    return yield* IssueAccessToken.issueAccessToken({
      upstream_token_set_id: "ts",
      client_id: "c1",
      subject: "u1",
      scopes: ["openid"],
      lifetime: 3600,
    })
  })

/**
 * The bearer check's verdict on `token`: `"allow"`, or the refusal's description.
 *
 * @category constructors
 * @since 0.1.0
 */
export const verdict = (token: string) =>
  Effect.map(LoadAccessToken.check(token), (d) => (d._tag === "Allow" ? "allow" : d.description))

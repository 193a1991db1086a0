/**
 * Our bearer pipeline as deployed on Node (what `ProxyLayer` assembles): `NodeProxyKeys`
 * (node:crypto HS256), `NodeUpstreamVerifier` (node:crypto KeyObjects, jose for the rest),
 * `NodeStorageKeys` (node:crypto AES-256-GCM and HMAC), and a store.
 */
import { IssueAccessToken, Jwks, ProxyConfig, Store, TokenStore } from "@oidc-proxy/core"
import { TestProxy, type TestUpstream } from "@oidc-proxy/core/testing"
import { NodeProxyKeys, NodeStorageKeys, NodeUpstreamVerifier } from "@oidc-proxy/node"
import { Effect, Layer, ManagedRuntime } from "effect"

/**
 * The memory store without its byte budget: the bench keeps up to 100k sessions in one process and
 * measures the pipeline and the bytes a session costs, not the budget's eviction (the default
 * 64 MiB budget would drop the oldest sessions part-way through a run).
 */
export const memoryStore: Layer.Layer<Store.Store> = Store.layerMemoryWith({
  maxBytes: Number.POSITIVE_INFINITY,
})

export interface StackOptions {
  readonly store: Layer.Layer<Store.Store>
  readonly cacheTtlSeconds?: number
  readonly cacheMaxEntries?: number
  /** `jose` to use the WebCrypto HS256 implementation instead of node:crypto. */
  readonly keys?: "node" | "jose"
  /** Remember upstream verifications by token string (default true). */
  readonly upstreamCache?: boolean
}

export interface UpstreamTokens {
  readonly idToken: string
  readonly accessToken: string
}

export const makeStack = (upstream: TestUpstream.TestUpstream, options: StackOptions) => {
  const config = TestProxy.config(upstream, {
    verification_mode: "id_token",
    cache_ttl_seconds: options.cacheTtlSeconds ?? 5,
    cache_max_entries: options.cacheMaxEntries ?? 10_000,
  })
  if (options.keys === "jose") return ManagedRuntime.make(TestProxy.layer(upstream, config, options.store))
  const settings = Layer.effect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(config)))
  const layer = Layer.mergeAll(
    TestProxy.keysLayer(NodeProxyKeys.hmacSha256),
    NodeUpstreamVerifier.layerJwt({ resultCache: options.upstreamCache ?? true }).pipe(
      Layer.provide(Jwks.layerStatic(upstream.jwks)),
    ),
    TokenStore.layer.pipe(
      Layer.provide(options.store),
      Layer.provide(NodeStorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)),
    ),
  ).pipe(Layer.provideMerge(settings))
  return ManagedRuntime.make(layer)
}

export type Stack = ReturnType<typeof makeStack>

/** Stores `count` sessions (an upstream token set and a proxy access token each); above 100k, prints progress. */
export const createSessions = (
  stack: Stack,
  tokens: UpstreamTokens,
  count: number,
  prefix = "s",
): Promise<Array<string>> => {
  let made = 0
  const progress = () => {
    if (count > 100_000 && ++made % 100_000 === 0) console.error(`  created ${made} of ${count} sessions`)
  }
  return stack.runPromise(
    Effect.gen(function* () {
      const store = yield* TokenStore.TokenStore
      const now = Math.floor(Date.now() / 1000)
      return yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => `${prefix}${i}`),
        (id) =>
          Effect.gen(function* () {
            yield* store.upstreamTokenSets.set(
              id,
              {
                id,
                access_token: tokens.accessToken,
                id_token: tokens.idToken,
                refresh_token: `upstream-refresh-${id}-0123456789abcdef0123456789abcdef`,
                token_type: "Bearer",
                scope: ["openid", "profile", "email", "tools"],
                expires_at: now + 3600,
                raw: {},
              },
              "2 hours",
            )
            const issued = yield* IssueAccessToken.issueAccessToken({
              upstream_token_set_id: id,
              client_id: "bench-client",
              subject: "user-1",
              scopes: ["openid", "tools"],
              lifetime: 3600,
            })
            progress()
            return issued.access_token
          }),
        { concurrency: 16 },
      )
    }),
  )
}

/** Realistic upstream tokens (RS256, ~800 characters) signed by the test IdP. */
export const upstreamTokens = (upstream: TestUpstream.TestUpstream): Promise<UpstreamTokens> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const exp = Math.floor(Date.now() / 1000) + 3600
      const profile = {
        sub: "user-1",
        email: "user.one@example.com",
        name: "User One",
        sid: "f3c1b2a4-5d6e-4f70-8192-a3b4c5d6e7f8",
      }
      return {
        idToken: yield* upstream.sign({ ...profile, aud: upstream.clientId, exp, nonce: "n-0S6_WzA2Mj" }),
        accessToken: yield* upstream.sign({
          ...profile,
          aud: "api",
          scope: "openid profile email tools",
          exp,
        }),
      }
    }),
  )

import { assert, describe, it } from "@effect/vitest"
import { Jwks, ProxyConfig, Upstream, UpstreamVerifier } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Context, Effect, Layer, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { UpstreamHttp } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

const wellKnown = "/.well-known/openid-configuration"

/** A whole fake IdP: discovery, JWKS and token endpoint, with its signing key. */
const fakeIdp = Effect.gen(function* () {
  let idp: TestUpstream.TestUpstream | undefined
  let origin = ""
  const server = yield* FakeServer.make((req, res) => {
    if (req.path.endsWith(wellKnown)) {
      return FakeServer.json(res, 200, {
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        jwks_uri: `${origin}/jwks`,
      })
    }
    if (req.path === "/jwks") return FakeServer.json(res, 200, idp?.jwks)
    if (req.path === "/token") return FakeServer.json(res, 200, { access_token: "at", token_type: "Bearer" })
    FakeServer.json(res, 404, {})
  })
  origin = server.origin
  idp = yield* TestUpstream.make({ issuer: origin })
  return { server, idp }
})

const options = (issuer: string): UpstreamHttp.Options => ({
  issuer,
  client_id: "proxy-client",
  client_secret: Redacted.make("secret"),
})

describe("UpstreamHttp", () => {
  it.live("layer - discovers once, then serves tokens and keys from the discovered endpoints", () =>
    Effect.gen(function* () {
      const { server, idp } = yield* fakeIdp
      const settings = Layer.effect(
        ProxyConfig.Settings,
        Effect.orDie(ProxyConfig.decode(TestProxy.config(idp))),
      )
      const upstream = UpstreamHttp.layerFetch(options(server.origin))
      const services = yield* Layer.build(
        Layer.mergeAll(upstream, UpstreamVerifier.layerJwt.pipe(Layer.provide(upstream))).pipe(
          Layer.provide(settings),
        ),
      )
      const client = Context.get(services, Upstream.UpstreamClient)
      assert.strictEqual(client.metadata.token_endpoint, `${server.origin}/token`)
      const tokens = yield* client.exchangeCode({
        code: "c",
        redirect_uri: "https://proxy.test/cb",
        code_verifier: "v",
      })
      assert.strictEqual(tokens.access_token, "at")
      const token = yield* idp.sign({ sub: "alice", exp: Math.floor(Date.now() / 1000) + 600 })
      const claims = yield* Context.get(services, UpstreamVerifier.UpstreamVerifier).verify(token, {
        issuer: server.origin,
      })
      assert.strictEqual(claims.sub, "alice")
      // Built once although two consumers use it (the memoised layer shares one discovery).
      assert.strictEqual(server.hits(wellKnown), 1)
      assert.strictEqual(server.hits("/jwks"), 1)
    }),
  )

  it.live("layer - metadata given by hand skips discovery", () =>
    Effect.gen(function* () {
      const { server } = yield* fakeIdp
      const metadata = {
        issuer: server.origin,
        authorization_endpoint: `${server.origin}/authorize`,
        token_endpoint: `${server.origin}/token`,
        jwks_uri: `${server.origin}/jwks`,
      }
      const services = yield* Layer.build(UpstreamHttp.layerFetch({ ...options(server.origin), metadata }))
      yield* Context.get(services, Jwks.Jwks).current
      assert.strictEqual(server.hits(wellKnown), 0)
      assert.strictEqual(server.hits("/jwks"), 1)
    }),
  )

  it.live("layer - a bad document or issuer fails the build with DiscoveryError", () =>
    Effect.gen(function* () {
      const { server } = yield* fakeIdp
      // The document at {issuer}/.well-known/… names another issuer.
      const mismatch = yield* Effect.flip(
        Layer.build(UpstreamHttp.layerFetch(options(`${server.origin}/other`))),
      )
      assert.strictEqual(mismatch._tag, "DiscoveryError")
      assert.strictEqual(mismatch.field, "issuer")
      assert.strictEqual(server.hits(`/other${wellKnown}`), 1)
      const handMade = yield* Effect.flip(
        Layer.build(
          UpstreamHttp.layerFetch({
            ...options("https://idp.example.com"),
            metadata: {
              issuer: "https://idp.example.com",
              authorization_endpoint: "https://idp.example.com/authorize",
              token_endpoint: "http://idp.example.com/token",
            },
          }),
        ),
      )
      assert.strictEqual(handMade._tag, "DiscoveryError")
      assert.strictEqual(handMade.field, "token_endpoint")
    }),
  )

  it.live("layer - works over any HttpClient (here provided explicitly)", () =>
    Effect.gen(function* () {
      const { server } = yield* fakeIdp
      const services = yield* Layer.build(
        UpstreamHttp.layer(options(server.origin)).pipe(Layer.provide(FetchHttpClient.layer)),
      )
      const jwks = yield* Context.get(services, Jwks.Jwks).current
      assert.strictEqual(jwks.keys.length, 1)
    }),
  )

  it.live("layer - endpoints by hand: no discovery request, and the endpoints come from the options", () =>
    Effect.gen(function* () {
      const { server } = yield* fakeIdp
      const services = yield* Layer.build(
        UpstreamHttp.layerFetch({
          ...options(server.origin),
          verification: "introspection",
          endpoints: {
            authorization_endpoint: `${server.origin}/authorize`,
            token_endpoint: `${server.origin}/token`,
            introspection_endpoint: `${server.origin}/introspect`,
          },
        }),
      )
      const client = Context.get(services, Upstream.UpstreamClient)
      assert.strictEqual(client.metadata.introspection_endpoint, `${server.origin}/introspect`)
      assert.strictEqual(client.metadata.jwks_uri, undefined)
      const tokens = yield* client.exchangeCode({
        code: "c",
        redirect_uri: "https://proxy.test/cb",
        code_verifier: "v",
      })
      assert.strictEqual(tokens.access_token, "at")
      // No jwks_uri: the JWKS port answers with an upstream error, never keys.
      const noKeys = yield* Effect.flip(Context.get(services, Jwks.Jwks).current)
      assert.strictEqual(noKeys._tag, "UpstreamError")
      assert.strictEqual(server.hits(wellKnown), 0)
    }),
  )

  it.live(
    "layer - the strategy's endpoint missing from discovery and options fails the build naming it",
    () =>
      Effect.gen(function* () {
        const { server } = yield* fakeIdp
        const missing = yield* Effect.flip(
          Layer.build(UpstreamHttp.layerFetch({ ...options(server.origin), verification: "introspection" })),
        )
        assert.strictEqual(missing._tag, "DiscoveryError")
        assert.strictEqual(missing.field, "introspection_endpoint")
        assert.match(missing.message, /"introspection_endpoint" is missing/)
        const byHand = yield* Effect.flip(
          Layer.build(
            UpstreamHttp.layerFetch({
              ...options(server.origin),
              endpoints: {
                authorization_endpoint: `${server.origin}/a`,
                token_endpoint: `${server.origin}/t`,
              },
            }),
          ),
        )
        assert.strictEqual(byHand.field, "jwks_uri")
        // A discovered document completed by an endpoint given by hand is enough.
        const services = yield* Layer.build(
          UpstreamHttp.layerFetch({
            ...options(server.origin),
            verification: "userinfo",
            endpoints: { userinfo_endpoint: `${server.origin}/user` },
          }),
        )
        assert.strictEqual(
          Context.get(services, Upstream.UpstreamClient).metadata.userinfo_endpoint,
          `${server.origin}/user`,
        )
      }),
  )
})

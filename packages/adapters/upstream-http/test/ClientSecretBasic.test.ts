/**
 * One client-authentication encoding on every upstream endpoint (RFC 6749 §2.3.1): `/token`,
 * revocation, introspection and token exchange send byte-identical `Authorization: Basic` headers,
 * which a real server on 127.0.0.1 decodes the RFC's way (base64, split at the first `:`, then
 * `application/x-www-form-urlencoded` decoding of each part).
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import { ProxyConfig, StorageKeys, Upstream, UpstreamVerifier } from "@oidc-proxy/core"
import { Context, Effect, Layer, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpTokenVerifier, TokenClient, TokenExchange } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

// Every character that `encodeURIComponent` and form-urlencoding treat differently, and a `:`.
const clientId = "proxy client~(1)"
const secret = "a b+c~d!e*f'g(h)i:j%k"

/** RFC 6749 §2.3.1 read back: base64, the first `:`, then form-decoding of each part. */
const decodeBasic = (header: string | undefined): readonly [string, string] | undefined => {
  if (header === undefined || !header.startsWith("Basic ")) return undefined
  const text = atob(header.slice("Basic ".length))
  const colon = text.indexOf(":")
  if (colon < 0) return undefined
  const form = new URLSearchParams(`u=${text.slice(0, colon)}&p=${text.slice(colon + 1)}`)
  return [form.get("u") ?? "", form.get("p") ?? ""]
}

describe("client_secret_basic", () => {
  it.live(
    "token, revocation, introspection and token exchange send the same, RFC-decodable credentials",
    () =>
      Effect.gen(function* () {
        const server = yield* FakeServer.make((req, res) => {
          const credentials = decodeBasic(req.headers.authorization)
          if (credentials?.[0] !== clientId || credentials[1] !== secret)
            return FakeServer.json(res, 401, { error: "invalid_client" })
          if (req.path === "/revoke") {
            res.writeHead(200)
            return res.end()
          }
          if (req.path === "/introspect") return FakeServer.json(res, 200, { active: true, sub: "alice" })
          if (req.form.get("grant_type") === "urn:ietf:params:oauth:grant-type:token-exchange")
            return FakeServer.json(res, 200, {
              access_token: "downstream",
              issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
              token_type: "Bearer",
            })
          return FakeServer.json(res, 200, { access_token: "at", token_type: "Bearer", expires_in: 300 })
        })
        const origin = server.origin
        const metadata: Upstream.UpstreamMetadata = {
          issuer: origin,
          authorization_endpoint: `${origin}/authorize`,
          token_endpoint: `${origin}/token`,
          jwks_uri: `${origin}/jwks`,
          revocation_endpoint: `${origin}/revoke`,
          introspection_endpoint: `${origin}/introspect`,
        }
        const credentials = { client_id: clientId, client_secret: Redacted.make(secret) }
        const client = yield* TokenClient.make({ metadata, ...credentials, timeoutDuration: "2 seconds" })
        yield* client.exchangeCode({
          code: "c",
          redirect_uri: "https://proxy.test/callback",
          code_verifier: "v".repeat(43),
        })
        yield* client.revoke({ token: "rt" })
        const exchange = yield* TokenExchange.make({
          endpoint: `${origin}/token`,
          ...credentials,
          settings: { grant: "exchange", audience: "api" },
        })
        yield* exchange("subject-token")
        const settings = Layer.effect(
          ProxyConfig.Settings,
          Effect.orDie(
            ProxyConfig.decode({
              issuer: "https://proxy.test",
              resource: "https://proxy.test/mcp",
              upstream: { issuer: origin, client_id: clientId, verification: "introspection" },
            }),
          ),
        )
        const upstream = Layer.succeed(Upstream.UpstreamClient, {
          metadata,
          exchangeCode: () => Effect.die("unused"),
          refresh: () => Effect.die("unused"),
          revoke: () => Effect.die("unused"),
        })
        const keys = StorageKeys.layer([{ kid: "k1", secret: Redacted.make("k".repeat(43)) }]).pipe(
          Layer.orDie,
        )
        const services = yield* Layer.build(
          HttpTokenVerifier.layer({ verification: "introspection", ...credentials }).pipe(
            Layer.provide(Layer.mergeAll(settings, upstream, keys, FetchHttpClient.layer)),
          ),
        )
        const claims = yield* Context.get(services, UpstreamVerifier.UpstreamVerifier).verify("opaque", {
          issuer: origin,
        })
        assert.strictEqual(claims.sub, "alice")

        const headers = server.requests.map((r) => `${r.path} ${r.headers.authorization}`)
        assert.deepStrictEqual(
          server.requests.map((r) => r.path),
          ["/token", "/revoke", "/token", "/introspect"],
        )
        const expected = `Basic ${btoa("proxy+client%7E%281%29:a+b%2Bc%7Ed%21e*f%27g%28h%29i%3Aj%25k")}`
        assert.deepStrictEqual(
          headers,
          server.requests.map((r) => `${r.path} ${expected}`),
        )
      }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)),
  )
})

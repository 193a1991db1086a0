/**
 * The two rules on every upstream exchange, against a hostile IdP on 127.0.0.1: a redirect is
 * never followed (the redirect target receives nothing: no code, verifier or secret, no key set
 * fetched from it), and a body past `maxResponseBytes` is cut off and fails the call.
 *
 * @since 0.1.0
 */
import type { ServerResponse } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Jwks, Upstream } from "@oidc-proxy/core"
import { Context, Effect, Layer, Redacted } from "effect"
import { UpstreamHttp } from "../src/index.ts"
import { maxResponseBytes } from "../src/internal/send.ts"
import * as FakeServer from "./support/FakeServer.ts"

const wellKnown = "/.well-known/openid-configuration"

type Hostile = (path: string, res: ServerResponse, elsewhere: string) => boolean

/** Writes 64 KiB chunks of JSON-looking bytes until the client goes away; counts what was sent. */
const endless = (res: ServerResponse, sent: { bytes: number }) => {
  res.writeHead(200, { "content-type": "application/json" })
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  res.write("{")
  const pump = () => {
    while (!res.destroyed && sent.bytes < 256 * 1024 * 1024) {
      sent.bytes += chunk.length
      if (!res.write(chunk)) return void res.once("drain", pump)
    }
  }
  res.on("close", () => res.removeAllListeners("drain"))
  pump()
}

/**
 * An IdP whose endpoints answer normally unless `hostile` takes the request, and an attacker's
 * server that records whatever reaches it.
 */
const setup = (hostile: Hostile) =>
  Effect.gen(function* () {
    const attacker = yield* FakeServer.make((_, res) => FakeServer.json(res, 200, { keys: [] }))
    let origin = ""
    const idp = yield* FakeServer.make((req, res) => {
      if (hostile(req.path, res, attacker.origin)) return
      if (req.path.endsWith(wellKnown))
        return FakeServer.json(res, 200, {
          issuer: origin,
          authorization_endpoint: `${origin}/authorize`,
          token_endpoint: `${origin}/token`,
          revocation_endpoint: `${origin}/revoke`,
          jwks_uri: `${origin}/jwks`,
        })
      if (req.path === "/jwks") return FakeServer.json(res, 200, { keys: [] })
      if (req.path === "/revoke") return FakeServer.json(res, 200, {})
      FakeServer.json(res, 200, { access_token: "at", token_type: "Bearer" })
    })
    origin = idp.origin
    const options: UpstreamHttp.Options = {
      issuer: origin,
      client_id: "proxy-client",
      client_secret: Redacted.make("the-client-secret"),
      token_endpoint_auth_method: "client_secret_post",
      timeoutDuration: "5 seconds",
    }
    const build = Layer.build(UpstreamHttp.layerFetch(options))
    return { attacker, idp, build }
  })

const redirectTo =
  (path: string, status = 307): Hostile =>
  (requested, res, elsewhere) => {
    if (requested !== path) return false
    res.writeHead(status, { location: `${elsewhere}${path}` })
    res.end()
    return true
  }

const endlessAt =
  (path: string, sent: { bytes: number }): Hostile =>
  (requested, res) => {
    if (requested !== path) return false
    endless(res, sent)
    return true
  }

const exchange = { code: "the-code", redirect_uri: "https://proxy.test/cb", code_verifier: "v".repeat(43) }

describe("upstream exchanges", () => {
  it.live("discovery - a redirect fails discovery; its target is never asked", () =>
    Effect.gen(function* () {
      const { attacker, build } = yield* setup(redirectTo(wellKnown, 302))
      const error = yield* Effect.flip(build)
      assert.match(error.message, /redirects are not followed/)
      assert.strictEqual(attacker.requests.length, 0)
    }),
  )

  it.live("JWKS - a 307 to another key set fails; the keys there are never fetched", () =>
    Effect.gen(function* () {
      const { attacker, build } = yield* setup(redirectTo("/jwks"))
      const jwks = Context.get(yield* build, Jwks.Jwks)
      const error = yield* Effect.flip(jwks.refresh("attacker-kid"))
      assert.strictEqual(error._tag, "UpstreamError")
      assert.match(error.description, /redirects are not followed/)
      assert.strictEqual(attacker.requests.length, 0)
    }),
  )

  for (const [name, call] of [
    ["token (authorization_code)", (c: Upstream.UpstreamClientShape) => c.exchangeCode(exchange)],
    ["token (refresh_token)", (c: Upstream.UpstreamClientShape) => c.refresh({ refresh_token: "rt" })],
    ["revocation", (c: Upstream.UpstreamClientShape) => c.revoke({ token: "rt" })],
  ] as const) {
    it.live(`${name} - a 307 to another origin fails, and that origin receives nothing`, () =>
      Effect.gen(function* () {
        const path = name === "revocation" ? "/revoke" : "/token"
        const { attacker, idp, build } = yield* setup(redirectTo(path))
        const client = Context.get(yield* build, Upstream.UpstreamClient)
        const error = yield* Effect.flip(call(client))
        assert.strictEqual(error.reason, "bad_response")
        assert.isFalse(error.retryable)
        assert.match(error.description, /redirects are not followed/)
        assert.strictEqual(idp.hits(path), 1)
        // Not the code, the verifier, the secret: not a single request.
        assert.strictEqual(attacker.requests.length, 0)
      }),
    )
  }

  it.live("token - an endless body is cut at the cap and fails as a bad response, not a timeout", () =>
    Effect.gen(function* () {
      const sent = { bytes: 0 }
      const { build } = yield* setup(endlessAt("/token", sent))
      const client = Context.get(yield* build, Upstream.UpstreamClient)
      const error = yield* Effect.flip(client.exchangeCode(exchange))
      assert.strictEqual(error.reason, "bad_response")
      assert.match(error.description, new RegExp(`larger than ${maxResponseBytes} bytes`))
      // The read stopped: the server was not drained to its own 256 MiB limit.
      assert.isBelow(sent.bytes, 64 * 1024 * 1024)
    }),
  )

  it.live("JWKS - a body past the cap (chunked, no length) fails; one declared larger fails unread", () =>
    Effect.gen(function* () {
      const sent = { bytes: 0 }
      const { build } = yield* setup(endlessAt("/jwks", sent))
      const jwks = Context.get(yield* build, Jwks.Jwks)
      const error = yield* Effect.flip(jwks.current)
      assert.match(error.description, /larger than 1048576 bytes/)
      assert.isBelow(sent.bytes, 64 * 1024 * 1024)

      const declared = yield* setup((path, res) => {
        if (path !== "/jwks") return false
        res.writeHead(200, { "content-type": "application/json", "content-length": maxResponseBytes + 1 })
        res.write("{")
        return true
      })
      const jwks2 = Context.get(yield* declared.build, Jwks.Jwks)
      assert.match((yield* Effect.flip(jwks2.current)).description, /larger than 1048576 bytes/)
    }),
  )

  it.live("discovery - a document past the cap fails discovery", () =>
    Effect.gen(function* () {
      const sent = { bytes: 0 }
      const { build } = yield* setup(endlessAt(wellKnown, sent))
      assert.match((yield* Effect.flip(build)).message, /larger than 1048576 bytes/)
    }),
  )

  it.live("a body just under the cap is read whole", () =>
    Effect.gen(function* () {
      const padding = "x".repeat(maxResponseBytes - 200)
      const { build } = yield* setup((path, res) => {
        if (path !== "/token") return false
        FakeServer.json(res, 200, { access_token: "at", token_type: "Bearer", padding })
        return true
      })
      const client = Context.get(yield* build, Upstream.UpstreamClient)
      const tokens = yield* client.exchangeCode(exchange)
      assert.strictEqual(tokens.access_token, "at")
    }),
  )
})

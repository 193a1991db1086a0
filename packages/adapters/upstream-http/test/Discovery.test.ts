import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FetchHttpClient } from "effect/http"
import { Discovery } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

const wellKnown = "/.well-known/openid-configuration"

const documentFor = (origin: string): Record<string, unknown> => ({
  issuer: origin,
  authorization_endpoint: `${origin}/authorize`,
  token_endpoint: `${origin}/token`,
  jwks_uri: `${origin}/jwks`,
  revocation_endpoint: `${origin}/revoke`,
  scopes_supported: ["openid", "offline_access"],
  x_vendor_extension: { kept: true },
})

/** A server answering discovery with `edit(document)`; returns the discovery outcome. */
const discoverWith = (edit: (doc: Record<string, unknown>) => Record<string, unknown>) =>
  Effect.gen(function* () {
    let origin = ""
    const server = yield* FakeServer.make((req, res) =>
      req.path === wellKnown
        ? FakeServer.json(res, 200, edit(documentFor(origin)))
        : FakeServer.json(res, 404, {}),
    )
    origin = server.origin
    const result = yield* Effect.result(Discovery.discover(server.origin))
    return { server, result }
  }).pipe(Effect.provide(FetchHttpClient.layer))

const expectFieldError = (field: string, edit: (doc: Record<string, unknown>) => Record<string, unknown>) =>
  Effect.gen(function* () {
    const { result } = yield* discoverWith(edit)
    assert.strictEqual(result._tag, "Failure")
    if (result._tag !== "Failure") return
    assert.strictEqual(result.failure._tag, "DiscoveryError")
    assert.strictEqual(result.failure.field, field)
    assert.include(result.failure.message, `"${field}"`)
  })

const without = (field: string) => (doc: Record<string, unknown>) => {
  const { [field]: _, ...rest } = doc
  return rest
}

describe("Discovery", () => {
  it.effect("discover - a valid document is accepted, unknown members kept", () =>
    Effect.gen(function* () {
      const { server, result } = yield* discoverWith((doc) => doc)
      assert.strictEqual(result._tag, "Success")
      if (result._tag !== "Success") return
      assert.strictEqual(result.success.issuer, server.origin)
      assert.strictEqual(result.success.token_endpoint, `${server.origin}/token`)
      assert.deepStrictEqual(result.success["x_vendor_extension"], { kept: true })
      assert.strictEqual(server.hits(wellKnown), 1)
    }),
  )

  for (const field of ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"]) {
    it.effect(`discover - missing ${field} is an error naming it`, () =>
      expectFieldError(field, without(field)),
    )
  }

  for (const field of ["authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"]) {
    it.effect(`discover - ${field} that is not an absolute URL is an error naming it`, () =>
      expectFieldError(field, (doc) => ({ ...doc, [field]: "/relative/path" })),
    )
    it.effect(`discover - ${field} over http on a public host is an error naming it`, () =>
      expectFieldError(field, (doc) => ({ ...doc, [field]: "http://idp.example.com/x" })),
    )
    it.effect(`discover - ${field} that is not a string is an error naming it`, () =>
      expectFieldError(field, (doc) => ({ ...doc, [field]: 42 })),
    )
  }

  it.effect("discover - a member of the wrong type is an error naming it", () =>
    expectFieldError("scopes_supported", (doc) => ({ ...doc, scopes_supported: "openid" })),
  )

  it.effect("discover - an issuer that differs (even by a trailing slash) is an error", () =>
    Effect.gen(function* () {
      yield* expectFieldError("issuer", (doc) => ({ ...doc, issuer: `${doc["issuer"]}/` }))
      yield* expectFieldError("issuer", (doc) => ({ ...doc, issuer: "https://other.example.com" }))
    }),
  )

  it.effect("discover - an unreachable IdP is an error naming the URL", () =>
    Effect.gen(function* () {
      const server = yield* FakeServer.make((_, res) => FakeServer.json(res, 200, {}))
      yield* server.stop
      const error = yield* Effect.flip(Discovery.discover(server.origin))
      assert.include(error.message, `${server.origin}${wellKnown}`)
      assert.include(error.message, "unreachable")
    }).pipe(Effect.provide(FetchHttpClient.layer)),
  )

  it.effect("discover - a non-2xx answer or a non-JSON body is an error naming the URL", () =>
    Effect.gen(function* () {
      const server = yield* FakeServer.make((req, res) => {
        if (req.path.startsWith("/missing")) return FakeServer.json(res, 404, { error: "not_found" })
        res.writeHead(200, { "content-type": "text/html" })
        res.end("<html>login</html>")
      })
      const notFound = yield* Effect.flip(Discovery.discover(`${server.origin}/missing`))
      assert.include(notFound.message, `${server.origin}/missing${wellKnown}`)
      assert.include(notFound.message, "404")
      const html = yield* Effect.flip(Discovery.discover(server.origin))
      assert.include(html.message, `${server.origin}${wellKnown}`)
      assert.include(html.message, "JSON")
    }).pipe(Effect.provide(FetchHttpClient.layer)),
  )

  it.live("discover - a silent IdP fails within timeoutDuration", () =>
    Effect.gen(function* () {
      // Never answers; the server's stop closes the held connection.
      const server = yield* FakeServer.make(() => {})
      const started = Date.now()
      const error = yield* Effect.flip(Discovery.discover(server.origin, { timeoutDuration: "200 millis" }))
      const elapsed = Date.now() - started
      assert.include(error.message, server.origin)
      assert.include(error.message, "did not answer")
      assert.isBelow(elapsed, 2_000)
    }).pipe(Effect.provide(FetchHttpClient.layer)),
  )

  it("discoveryUrl - a trailing slash of the issuer is removed first", () => {
    assert.strictEqual(
      Discovery.discoveryUrl("https://idp.example.com/realms/a/"),
      "https://idp.example.com/realms/a/.well-known/openid-configuration",
    )
    assert.strictEqual(
      Discovery.discoveryUrl("https://idp.example.com"),
      "https://idp.example.com/.well-known/openid-configuration",
    )
  })

  it("checkEndpoint - https anywhere, http only on loopback hosts", () => {
    assert.isUndefined(Discovery.checkEndpoint("https://idp.example.com/token"))
    assert.isUndefined(Discovery.checkEndpoint("http://127.0.0.1:8080/token"))
    assert.isUndefined(Discovery.checkEndpoint("http://localhost/token"))
    assert.isUndefined(Discovery.checkEndpoint("http://[::1]:9000/token"))
    assert.isString(Discovery.checkEndpoint("http://127.0.0.1.example.com/token"))
    assert.isString(Discovery.checkEndpoint("ftp://idp.example.com/token"))
    assert.isString(Discovery.checkEndpoint("idp.example.com/token"))
  })

  it.effect("validate - metadata given by hand passes the same checks", () =>
    Effect.gen(function* () {
      const doc = documentFor("https://idp.example.com")
      const ok = yield* Discovery.validate("https://idp.example.com", doc)
      assert.strictEqual(ok.jwks_uri, "https://idp.example.com/jwks")
      const error = yield* Effect.flip(
        Discovery.validate("https://idp.example.com", without("jwks_uri")(doc)),
      )
      assert.strictEqual(error.field, "jwks_uri")
    }),
  )
})

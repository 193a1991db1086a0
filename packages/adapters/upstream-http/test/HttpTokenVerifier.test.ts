/**
 * Tests of the introspection and userinfo strategies against a real HTTP server on 127.0.0.1:
 * what is sent (client authentication, bearer), the answer's mapping (active, inactive, 401,
 * outage), and the cache in front of the call, counted in upstream requests (one call for repeated
 * and for concurrent checks of one token, a new one after the TTL or the token's `exp`).
 *
 * @since 0.1.0
 */
import type { ServerResponse } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { ProxyConfig, StorageKeys, Upstream, UpstreamVerifier } from "@oidc-proxy/core"
import { Clock, Context, Effect, Layer, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import { HttpTokenVerifier } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

interface State {
  active: unknown
  status: number
  /** Seconds from the Clock's now; undefined: no `exp`. */
  expIn: number | undefined
  delay: number
}

const clientId = "proxy-client"
const secret = "introspection secret"
const ttl = 5

const answer = (
  state: State,
  res: ServerResponse,
  body: () => unknown,
  headers: Record<string, string> = {},
) => {
  const send = () => FakeServer.json(res, state.status, body(), headers)
  if (state.delay > 0) setTimeout(send, state.delay).unref()
  else send()
}

/** A fake IdP with /introspect and a GitHub-like /user, scripted by `state`; `now` is the Clock's. */
const setup = (
  verification: "introspection" | "userinfo",
  auth?: "client_secret_post",
  github?: { readonly organizations: ReadonlyArray<string> },
) =>
  Effect.gen(function* () {
    const state: State = { active: true, status: 200, expIn: 600, delay: 0 }
    const start = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    let origin = ""
    const server = yield* FakeServer.make((req, res) => {
      if (req.path === "/introspect")
        return answer(state, res, () => ({
          active: state.active,
          sub: "alice",
          scope: "openid mcp:read",
          client_id: clientId,
          iss: origin,
          ...(state.expIn === undefined ? {} : { exp: start + state.expIn }),
        }))
      if (req.headers.authorization === "Bearer ghu_app") {
        // A GitHub App token: no scopes reported; this app lacks the email permission.
        if (req.path === "/user")
          return FakeServer.json(
            res,
            200,
            { id: 7, login: "app-user", email: "public@example.com" },
            {
              "x-oauth-scopes": "",
            },
          )
        return FakeServer.json(res, 404, { message: "Not Found" })
      }
      if (req.path.startsWith("/user/") && req.headers.authorization !== "Bearer gho_live") {
        res.writeHead(401, { "content-type": "application/json" })
        return res.end('{"message":"Bad credentials"}')
      }
      if (req.path === "/user/emails")
        return FakeServer.json(res, 200, [
          { email: "octo@users.noreply.example", primary: false, verified: true },
          { email: "octocat@example.com", primary: true, verified: true },
        ])
      if (req.path.startsWith("/user/orgs"))
        return FakeServer.json(res, 200, [
          { login: "Acme", id: 1 },
          { login: "other", id: 2 },
        ])
      if (req.path === "/user") {
        if (req.headers.authorization !== "Bearer gho_live") {
          res.writeHead(401, { "content-type": "application/json" })
          return res.end('{"message":"Bad credentials"}')
        }
        return answer(state, res, () => ({ id: 583231, login: "octocat", email: "public@example.com" }), {
          "x-oauth-scopes": "repo, user:email",
        })
      }
      FakeServer.json(res, 404, {})
    })
    origin = server.origin
    const metadata: Upstream.UpstreamMetadata = {
      issuer: origin,
      authorization_endpoint: `${origin}/authorize`,
      token_endpoint: `${origin}/token`,
      introspection_endpoint: `${origin}/introspect`,
      userinfo_endpoint: `${origin}/user`,
    }
    const settings = Layer.effect(
      ProxyConfig.Settings,
      Effect.orDie(
        ProxyConfig.decode({
          issuer: "https://proxy.test",
          resource: "https://proxy.test/mcp",
          cache_ttl_seconds: ttl,
          upstream: {
            issuer: origin,
            client_id: clientId,
            verification,
            ...(verification === "userinfo" ? { subject_claim: "id", scopes_header: "X-OAuth-Scopes" } : {}),
            ...(github === undefined ? {} : { github_api_url: origin }),
          },
          ...(github === undefined ? {} : { access: { organizations: github.organizations } }),
        }),
      ),
    )
    const client = Layer.succeed(Upstream.UpstreamClient, {
      metadata,
      exchangeCode: () => Effect.die("unused"),
      refresh: () => Effect.die("unused"),
      revoke: () => Effect.die("unused"),
    })
    const keys = StorageKeys.layer([{ kid: "k1", secret: Redacted.make("k".repeat(43)) }]).pipe(Layer.orDie)
    const services = yield* Layer.build(
      HttpTokenVerifier.layer({
        verification,
        client_id: clientId,
        client_secret: Redacted.make(secret),
        token_endpoint_auth_method: auth,
      }).pipe(Layer.provide(Layer.mergeAll(settings, client, keys, FetchHttpClient.layer))),
    )
    const verifier = Context.get(services, UpstreamVerifier.UpstreamVerifier)
    const verify = (token: string) => verifier.verify(token, { issuer: origin })
    return { server, state, verifier, verify }
  })

describe("HttpTokenVerifier", () => {
  it.effect("userinfo - GitHub: the primary verified email and the organizations complete /user", () =>
    Effect.gen(function* () {
      const { server, verify } = yield* setup("userinfo", undefined, { organizations: ["acme"] })
      const claims = yield* verify("gho_live")
      assert.strictEqual(claims.sub, "583231")
      assert.strictEqual(claims.email, "octocat@example.com")
      assert.strictEqual(claims["email_verified"], true)
      assert.deepStrictEqual(claims["orgs"], ["Acme", "other"])
      assert.deepStrictEqual(
        server.requests.map((r) => r.path),
        ["/user", "/user/emails", "/user/orgs"],
      )
      for (const request of server.requests) assert.isString(request.headers["user-agent"])
    }),
  )

  it.effect("userinfo - GitHub App token: no scopes reported, emails tried, a 404 there is no email", () =>
    Effect.gen(function* () {
      const { server, verify } = yield* setup("userinfo", undefined, { organizations: [] })
      const claims = yield* verify("ghu_app")
      assert.strictEqual(claims.sub, "7")
      assert.isUndefined(claims.email)
      // No scope claim: the scopes recorded at sign-in apply.
      assert.isUndefined(claims.scope)
      assert.deepStrictEqual(
        server.requests.map((r) => r.path),
        ["/user", "/user/emails"],
      )
    }),
  )

  it.effect("userinfo - GitHub without an organization rule: no /user/orgs, no public email kept", () =>
    Effect.gen(function* () {
      const { server, verify } = yield* setup("userinfo", undefined, { organizations: [] })
      const claims = yield* verify("gho_live")
      assert.strictEqual(claims.email, "octocat@example.com")
      assert.isUndefined(claims["orgs"])
      assert.deepStrictEqual(
        server.requests.map((r) => r.path),
        ["/user", "/user/emails"],
      )
    }),
  )

  it.effect(
    "introspection - posts the token with Basic client authentication; an active answer's claims",
    () =>
      Effect.gen(function* () {
        const { server, verify } = yield* setup("introspection")
        const claims = yield* verify("opaque-token")
        assert.strictEqual(claims.sub, "alice")
        assert.strictEqual(claims.scope, "openid mcp:read")
        assert.strictEqual(claims["client_id"], clientId)
        const request = server.requests[0]!
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.form.get("token"), "opaque-token")
        assert.strictEqual(request.form.get("token_type_hint"), "access_token")
        assert.strictEqual(request.headers.accept, "application/json")
        assert.strictEqual(
          request.headers.authorization,
          `Basic ${btoa(`${clientId}:${secret.replace(/ /g, "+")}`)}`,
        )
        assert.isFalse(request.form.has("client_secret"))
      }),
  )

  it.effect("introspection - client_secret_post sends the credentials as form fields", () =>
    Effect.gen(function* () {
      const { server, verify } = yield* setup("introspection", "client_secret_post")
      yield* verify("opaque-token")
      const request = server.requests[0]!
      assert.strictEqual(request.form.get("client_id"), clientId)
      assert.strictEqual(request.form.get("client_secret"), secret)
      assert.isUndefined(request.headers.authorization)
    }),
  )

  it.effect(
    "introspection - repeated checks make one call; 20 concurrent checks of a new token make one",
    () =>
      Effect.gen(function* () {
        const { server, state, verify } = yield* setup("introspection")
        for (let i = 0; i < 5; i++) yield* verify("token-a")
        assert.strictEqual(server.hits("/introspect"), 1)
        state.delay = 50
        const all = yield* Effect.all(
          Array.from({ length: 20 }, () => verify("token-b")),
          { concurrency: "unbounded" },
        )
        assert.strictEqual(all.length, 20)
        assert.isTrue(all.every((c) => c.sub === "alice"))
        assert.strictEqual(server.hits("/introspect"), 2)
      }),
  )

  it.effect(
    "introspection - a token turned inactive is accepted from cache within the TTL, refused after it",
    () =>
      Effect.gen(function* () {
        const { server, state, verify } = yield* setup("introspection")
        yield* verify("token-a")
        state.active = false
        yield* TestClock.adjust(`${ttl - 1} seconds`)
        yield* verify("token-a")
        assert.strictEqual(server.hits("/introspect"), 1)
        yield* TestClock.adjust("1 second")
        const refused = yield* Effect.flip(verify("token-a"))
        assert.strictEqual(refused._tag, "InvalidToken")
        assert.strictEqual(server.hits("/introspect"), 2)
        // Refusals are not cached: the next check asks again (and the provider still says no).
        yield* Effect.flip(verify("token-a"))
        assert.strictEqual(server.hits("/introspect"), 3)
      }),
  )

  it.effect("introspection - an answer is never cached past the token's exp", () =>
    Effect.gen(function* () {
      const { server, state, verify, verifier } = yield* setup("introspection")
      state.expIn = 2
      const claims = yield* verify("short")
      const now = yield* Clock.currentTimeMillis
      assert.strictEqual(verifier.validUntil?.(claims), now + 2000)
      state.active = false
      yield* TestClock.adjust("1 second")
      yield* verify("short")
      assert.strictEqual(server.hits("/introspect"), 1)
      // At exp (well within the 5 s TTL) the answer is not served from the cache: a new call.
      yield* TestClock.adjust("1 second")
      const refused = yield* Effect.flip(verify("short"))
      assert.strictEqual(refused._tag, "InvalidToken")
      assert.strictEqual(server.hits("/introspect"), 2)
    }),
  )

  it.effect("introspection - active false, or active other than true, is InvalidToken", () =>
    Effect.gen(function* () {
      const { state, verify } = yield* setup("introspection")
      for (const active of [false, "true", 1, null]) {
        state.active = active
        const refused = yield* Effect.flip(verify(`t-${String(active)}`))
        assert.strictEqual(refused._tag, "InvalidToken", String(active))
      }
    }),
  )

  it.effect(
    "introspection - a 5xx, a 401 for the client, or a stopped server is UpstreamError (503), never a 401",
    () =>
      Effect.gen(function* () {
        const { server, state, verify } = yield* setup("introspection")
        state.status = 500
        const e500 = yield* Effect.flip(verify("t1"))
        assert.isTrue(e500._tag === "UpstreamError" && e500.retryable)
        state.status = 401
        const e401 = yield* Effect.flip(verify("t2"))
        assert.strictEqual(e401._tag, "UpstreamError")
        yield* server.stop
        const down = yield* Effect.flip(verify("t3"))
        assert.isTrue(down._tag === "UpstreamError" && down.reason === "unreachable" && down.retryable)
      }),
  )

  it.effect(
    "userinfo - GitHub /user: bearer and User-Agent sent, numeric id as subject, X-OAuth-Scopes as scope",
    () =>
      Effect.gen(function* () {
        const { server, verify } = yield* setup("userinfo")
        const claims = yield* verify("gho_live")
        assert.strictEqual(claims.sub, "583231")
        assert.strictEqual(claims["login"], "octocat")
        assert.strictEqual(claims.scope, "repo user:email")
        const request = server.requests[0]!
        assert.strictEqual(request.method, "GET")
        assert.strictEqual(request.headers["user-agent"], "oidc-proxy")
        yield* verify("gho_live")
        assert.strictEqual(server.hits("/user"), 1)
      }),
  )

  it.effect("userinfo - a 401 from the provider is InvalidToken; a 503 is UpstreamError", () =>
    Effect.gen(function* () {
      const { state, verify } = yield* setup("userinfo")
      const refused = yield* Effect.flip(verify("gho_revoked"))
      assert.strictEqual(refused._tag, "InvalidToken")
      state.status = 503
      const outage = yield* Effect.flip(verify("gho_live"))
      assert.strictEqual(outage._tag, "UpstreamError")
    }),
  )
})

import type { ServerResponse } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import type { Upstream } from "@oidc-proxy/core"
import { TestUpstream } from "@oidc-proxy/core/testing"
import { Effect, Fiber, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { TokenClient } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

const clientId = "proxy-client"
const secret = "s3cr3t:with/odd chars"
const verifier = "v".repeat(43)
const redirectUri = "https://proxy.test/callback"

interface Script {
  /** Answers /token after the auth check passed; default: a fresh token set. */
  token?: (form: URLSearchParams, res: ServerResponse) => void
  /** Milliseconds to wait before answering /token. */
  delay?: number
}

/** Checks the client authentication the endpoint received; returns why it is wrong, if it is. */
const authProblem = (method: TokenClient.AuthMethod, req: FakeServer.RecordedRequest): string | undefined => {
  const header = req.headers.authorization
  if (method === "client_secret_basic") {
    if (req.form.has("client_secret")) return "secret in the body"
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64; decode as a server would.
    if (!header?.startsWith("Basic ")) return `unexpected Authorization ${header}`
    const [user = "", password = ""] = atob(header.slice(6)).split(":")
    const decode = (part: string) => decodeURIComponent(part.replace(/\+/g, " "))
    return decode(user) === clientId && decode(password) === secret ? undefined : "wrong Basic credentials"
  }
  if (header !== undefined) return "Authorization header with client_secret_post"
  return req.form.get("client_id") === clientId && req.form.get("client_secret") === secret
    ? undefined
    : "wrong client_id/client_secret in the body"
}

/** A fake IdP token + revocation endpoint, and a client for it. */
const setup = (method: TokenClient.AuthMethod | undefined, script: Script = {}, revocation = true) =>
  Effect.gen(function* () {
    const problems: Array<string> = []
    const server = yield* FakeServer.make((req, res) => {
      const problem = authProblem(method ?? "client_secret_basic", req)
      if (problem !== undefined) {
        problems.push(problem)
        return FakeServer.json(res, 401, { error: "invalid_client" })
      }
      if (req.path === "/revoke") {
        res.writeHead(200)
        return res.end()
      }
      const answer = () =>
        script.token
          ? script.token(req.form, res)
          : FakeServer.json(res, 200, {
              access_token: `at-${req.form.get("grant_type")}`,
              token_type: "Bearer",
              expires_in: 300,
              refresh_token: "rt-next",
              refresh_expires_in: 1800,
              scope: "openid offline_access",
              x_vendor: "kept",
            })
      if (script.delay === undefined) answer()
      else setTimeout(answer, script.delay).unref()
    })
    const idp = yield* TestUpstream.make({ issuer: server.origin, clientId })
    const metadata: Upstream.UpstreamMetadata = {
      issuer: server.origin,
      authorization_endpoint: `${server.origin}/authorize`,
      token_endpoint: `${server.origin}/token`,
      jwks_uri: `${server.origin}/jwks`,
      ...(revocation ? { revocation_endpoint: `${server.origin}/revoke` } : {}),
    }
    const client = yield* TokenClient.make({
      metadata,
      client_id: clientId,
      client_secret: Redacted.make(secret),
      token_endpoint_auth_method: method,
      timeoutDuration: "1 second",
    })
    return { server, client, idp, problems, hits: () => server.hits("/token") }
  }).pipe(Effect.provide(FetchHttpClient.layer))

const exchange = { code: "the-code", redirect_uri: redirectUri, code_verifier: verifier }

describe("TokenClient", () => {
  for (const method of ["client_secret_basic", "client_secret_post"] as const) {
    it.live(`exchangeCode - with ${method}, sends code, verifier and client auth; decodes the answer`, () =>
      Effect.gen(function* () {
        const { server, client, problems } = yield* setup(method)
        const tokens = yield* client.exchangeCode(exchange)
        assert.deepStrictEqual(problems, [])
        const form = server.requests[0]!.form
        assert.strictEqual(form.get("grant_type"), "authorization_code")
        assert.strictEqual(form.get("code"), "the-code")
        assert.strictEqual(form.get("code_verifier"), verifier)
        assert.strictEqual(form.get("redirect_uri"), redirectUri)
        assert.strictEqual(tokens.access_token, "at-authorization_code")
        assert.strictEqual(tokens.refresh_token, "rt-next")
        assert.strictEqual(tokens.expires_in, 300)
        assert.strictEqual(tokens.refresh_expires_in, 1800)
        assert.strictEqual(tokens.raw["x_vendor"], "kept")
        assert.strictEqual(tokens.raw["token_type"], "Bearer")
      }),
    )

    it.live(`refresh - with ${method}, sends the refresh token and scope`, () =>
      Effect.gen(function* () {
        const { server, client, problems } = yield* setup(method)
        const tokens = yield* client.refresh({ refresh_token: "rt-1", scope: "openid" })
        assert.deepStrictEqual(problems, [])
        const form = server.requests[0]!.form
        assert.strictEqual(form.get("grant_type"), "refresh_token")
        assert.strictEqual(form.get("refresh_token"), "rt-1")
        assert.strictEqual(form.get("scope"), "openid")
        assert.strictEqual(tokens.access_token, "at-refresh_token")
      }),
    )
  }

  it.live(
    "client_secret_basic - credentials form-urlencoded, with letters, digits and *-._ as they are (servers that never decode, e.g. glewlwyd)",
    () =>
      Effect.gen(function* () {
        const { server, client, problems } = yield* setup("client_secret_basic")
        yield* client.exchangeCode(exchange)
        yield* client.revoke({ token: "rt-1" })
        assert.deepStrictEqual(problems, [])
        for (const req of server.requests) {
          assert.strictEqual(
            atob(req.headers.authorization?.slice("Basic ".length) ?? ""),
            "proxy-client:s3cr3t%3Awith%2Fodd+chars",
          )
        }
        assert.strictEqual(server.requests.length, 2)
      }),
  )

  it.live("exchangeCode - the default client authentication is client_secret_basic", () =>
    Effect.gen(function* () {
      const { client, problems } = yield* setup(undefined)
      yield* client.exchangeCode(exchange)
      assert.deepStrictEqual(problems, [])
    }),
  )

  it.live("refresh - invalid_grant is UpstreamError rejected, not retryable", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 400, { error: "invalid_grant", error_description: "rt-1 expired" }),
      })
      const error = yield* Effect.flip(client.refresh({ refresh_token: "rt-1" }))
      assert.strictEqual(error._tag, "UpstreamError")
      assert.strictEqual(error.reason, "rejected")
      assert.isFalse(error.retryable)
      assert.include(error.description, "invalid_grant")
      // The upstream's description may echo request data; it is not passed on.
      assert.notInclude(error.description, "rt-1")
    }),
  )

  it.live("exchangeCode - a wrong client secret is rejected, and the secret appears nowhere", () =>
    Effect.gen(function* () {
      const { server } = yield* setup("client_secret_post")
      const client = yield* TokenClient.make({
        metadata: {
          issuer: server.origin,
          authorization_endpoint: `${server.origin}/authorize`,
          token_endpoint: `${server.origin}/token`,
        },
        client_id: clientId,
        client_secret: Redacted.make("wrong-secret"),
        token_endpoint_auth_method: "client_secret_post",
      }).pipe(Effect.provide(FetchHttpClient.layer))
      const error = yield* Effect.flip(client.exchangeCode(exchange))
      assert.strictEqual(error.reason, "rejected")
      assert.isFalse(error.retryable)
      assert.notInclude(JSON.stringify(error), "wrong-secret")
      assert.notInclude(String(error), "wrong-secret")
    }),
  )

  it.live("refresh - HTTP 500 is bad_response, retryable", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) => {
          res.writeHead(500, { "content-type": "text/plain" })
          res.end("Internal Server Error")
        },
      })
      const error = yield* Effect.flip(client.refresh({ refresh_token: "rt-1" }))
      assert.strictEqual(error.reason, "bad_response")
      assert.isTrue(error.retryable)
    }),
  )

  it.live("refresh - a 503 with an OAuth error body is bad_response, retryable", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) => FakeServer.json(res, 503, { error: "temporarily_unavailable" }),
      })
      const error = yield* Effect.flip(client.refresh({ refresh_token: "rt-1" }))
      assert.strictEqual(error.reason, "bad_response")
      assert.isTrue(error.retryable)
    }),
  )

  it.live("refresh - a 200 that is not a token response is bad_response, not retryable", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) => FakeServer.json(res, 200, { token_type: "Bearer" }),
      })
      const error = yield* Effect.flip(client.refresh({ refresh_token: "rt-1" }))
      assert.strictEqual(error.reason, "bad_response")
      assert.isFalse(error.retryable)
    }),
  )

  it.live("exchangeCode - asks for JSON (Accept: application/json), as GitHub needs to answer JSON", () =>
    Effect.gen(function* () {
      const { server, client } = yield* setup("client_secret_basic")
      yield* client.exchangeCode(exchange)
      assert.strictEqual(server.requests[0]!.headers.accept, "application/json")
    }),
  )

  it.live("exchangeCode - a form-encoded token response (GitHub without Accept) is read", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) => {
          res.writeHead(200, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" })
          res.end("access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer")
        },
      })
      const tokens = yield* client.exchangeCode(exchange)
      assert.strictEqual(tokens.access_token, "gho_16C7e42F292c6912E7710c838347Ae178B4a")
      assert.strictEqual(tokens.token_type, "bearer")
      assert.strictEqual(tokens.scope, "repo gist")
    }),
  )

  it.live("exchangeCode - an error delivered with HTTP 200 is a refusal naming its code, not a success", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 200, {
            error: "bad_verification_code",
            error_description: "The code passed is incorrect or expired.",
            error_uri: "https://docs.github.com/apps/troubleshooting",
          }),
      })
      const error = yield* Effect.flip(client.exchangeCode(exchange))
      assert.strictEqual(error.reason, "rejected")
      assert.isFalse(error.retryable)
      assert.include(error.description, "bad_verification_code")
      // The upstream's description may echo request data: it is not passed on.
      assert.notInclude(error.description, "incorrect or expired")
    }),
  )

  it.live("refresh - expires_in as a numeric string or missing is accepted", () =>
    Effect.gen(function* () {
      let expiresIn: string | undefined = "28800"
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 200, {
            access_token: "at",
            token_type: "Bearer",
            ...(expiresIn === undefined ? {} : { expires_in: expiresIn }),
          }),
      })
      const asString = yield* client.refresh({ refresh_token: "rt-1" })
      assert.strictEqual(asString.expires_in, 28800)
      expiresIn = undefined
      const missing = yield* client.refresh({ refresh_token: "rt-2" })
      assert.isUndefined(missing.expires_in)
    }),
  )

  it.live("exchangeCode - a comma-separated scope (GitHub) becomes space-separated", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 200, { access_token: "at", token_type: "bearer", scope: "repo,user:email" }),
      })
      const tokens = yield* client.exchangeCode(exchange)
      assert.strictEqual(tokens.scope, "repo user:email")
    }),
  )

  it.live("refresh - a slow endpoint fails with timeout within the bound", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", { delay: 10_000 })
      const started = Date.now()
      const error = yield* Effect.flip(client.refresh({ refresh_token: "rt-1" }))
      const elapsed = Date.now() - started
      assert.strictEqual(error.reason, "timeout")
      assert.isTrue(error.retryable)
      assert.isAtLeast(elapsed, 900)
      assert.isBelow(elapsed, 3_000)
    }),
  )

  it.live("refresh - an unreachable endpoint is unreachable, retryable", () =>
    Effect.gen(function* () {
      const { client, server } = yield* setup("client_secret_basic")
      yield* server.stop
      const error = yield* Effect.flip(client.refresh({ refresh_token: "rt-1" }))
      assert.strictEqual(error.reason, "unreachable")
      assert.isTrue(error.retryable)
    }),
  )

  it.live("refresh - 20 concurrent refreshes of one refresh token make exactly 1 upstream call", () =>
    Effect.gen(function* () {
      const { client, hits } = yield* setup("client_secret_basic", { delay: 100 })
      const results = yield* Effect.all(
        Array.from({ length: 20 }, () => client.refresh({ refresh_token: "rt-shared" })),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(hits(), 1)
      assert.isTrue(results.every((r) => r === results[0]))
      // Once settled, the next refresh is a new upstream call; another token never waits on this one.
      yield* Effect.all(
        [client.refresh({ refresh_token: "rt-shared" }), client.refresh({ refresh_token: "rt-other" })],
        {
          concurrency: "unbounded",
        },
      )
      assert.strictEqual(hits(), 3)
    }),
  )

  it.live("refresh - interrupting the caller that started a shared refresh does not fail the others", () =>
    Effect.gen(function* () {
      const { client, hits } = yield* setup("client_secret_basic", { delay: 150 })
      const first = yield* Effect.forkChild(client.refresh({ refresh_token: "rt-shared" }))
      yield* Effect.sleep("20 millis")
      const second = yield* Effect.forkChild(client.refresh({ refresh_token: "rt-shared" }))
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(first)
      const tokens = yield* Fiber.join(second)
      assert.strictEqual(tokens.access_token, "at-refresh_token")
      assert.strictEqual(hits(), 1)
    }),
  )

  it.live("refresh - callers sharing a refresh also share its failure", () =>
    Effect.gen(function* () {
      const { client, hits } = yield* setup("client_secret_basic", {
        delay: 50,
        token: (_, res) => FakeServer.json(res, 400, { error: "invalid_grant" }),
      })
      const errors = yield* Effect.all(
        Array.from({ length: 5 }, () => Effect.flip(client.refresh({ refresh_token: "rt-bad" }))),
        { concurrency: "unbounded" },
      )
      assert.strictEqual(hits(), 1)
      assert.isTrue(errors.every((e) => e.reason === "rejected"))
    }),
  )

  it.live("revoke - posts the token and its hint with client authentication", () =>
    Effect.gen(function* () {
      const { client, server, problems } = yield* setup("client_secret_basic")
      yield* client.revoke({ token: "rt-1", token_type_hint: "refresh_token" })
      assert.deepStrictEqual(problems, [])
      const request = server.requests[0]!
      assert.strictEqual(request.path, "/revoke")
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.form.get("token"), "rt-1")
      assert.strictEqual(request.form.get("token_type_hint"), "refresh_token")
    }),
  )

  it.live("revoke - without a revocation_endpoint it succeeds without a call", () =>
    Effect.gen(function* () {
      const { client, server } = yield* setup("client_secret_basic", {}, false)
      yield* client.revoke({ token: "at-1" })
      assert.strictEqual(server.requests.length, 0)
    }),
  )

  it.live("exchangeCode - the same JWT as access_token and id_token (SAP CIS) is accepted", () =>
    Effect.gen(function* () {
      let jwt = ""
      const { client, idp } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 200, { access_token: jwt, id_token: jwt, token_type: "bearer" }),
      })
      const now = Math.floor(Date.now() / 1000)
      jwt = yield* idp.sign({
        sub: "alice",
        aud: [clientId, "urn:sap:other"],
        azp: clientId,
        exp: now + 3600,
        nonce: "n-123",
        scope: ["openid"],
      })
      const tokens = yield* client.exchangeCode({ ...exchange, nonce: "n-123" })
      assert.strictEqual(tokens.access_token, jwt)
      assert.strictEqual(tokens.id_token, jwt)
    }),
  )

  it.live("exchangeCode - id_token nonce: must match when given, must be absent when not", () =>
    Effect.gen(function* () {
      let jwt = ""
      const { client, idp } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 200, { access_token: "at", id_token: jwt, token_type: "Bearer" }),
      })
      const now = Math.floor(Date.now() / 1000)
      jwt = yield* idp.sign({ sub: "alice", aud: clientId, exp: now + 3600, nonce: "n-123" })
      const mismatch = yield* Effect.flip(client.exchangeCode({ ...exchange, nonce: "n-other" }))
      assert.strictEqual(mismatch.reason, "bad_response")
      const unexpected = yield* Effect.flip(client.exchangeCode(exchange))
      assert.strictEqual(unexpected.reason, "bad_response")
      jwt = yield* idp.sign({ sub: "alice", aud: clientId, exp: now + 3600 })
      const tokens = yield* client.exchangeCode(exchange)
      assert.strictEqual(tokens.id_token, jwt)
      // A nonce was sent, so an id_token must come back carrying it.
      const missing = yield* Effect.flip(client.exchangeCode({ ...exchange, nonce: "n-123" }))
      assert.strictEqual(missing.reason, "bad_response")
    }),
  )

  it.live("exchangeCode - an id_token for another audience or issuer is refused", () =>
    Effect.gen(function* () {
      let jwt = ""
      const { client, idp } = yield* setup("client_secret_basic", {
        token: (_, res) =>
          FakeServer.json(res, 200, { access_token: "at", id_token: jwt, token_type: "Bearer" }),
      })
      const now = Math.floor(Date.now() / 1000)
      jwt = yield* idp.sign({ sub: "alice", aud: "someone-else", exp: now + 3600 })
      assert.strictEqual((yield* Effect.flip(client.exchangeCode(exchange))).reason, "bad_response")
      jwt = yield* idp.sign({ sub: "alice", aud: clientId, exp: now + 3600, iss: "https://evil.test" })
      assert.strictEqual((yield* Effect.flip(client.exchangeCode(exchange))).reason, "bad_response")
    }),
  )

  /** GitHub's application-token API: 204 for a live token, 404 once it is gone. */
  const gitHub = (status: () => number) =>
    Effect.gen(function* () {
      const server = yield* FakeServer.make((req, res) => {
        res.writeHead(req.method === "DELETE" ? status() : 404)
        res.end()
      })
      const endpoint = `${server.origin}/applications/${clientId}/token`
      const client = yield* TokenClient.make({
        metadata: {
          issuer: server.origin,
          authorization_endpoint: `${server.origin}/login/oauth/authorize`,
          token_endpoint: `${server.origin}/login/oauth/access_token`,
          revocation_endpoint: endpoint,
        },
        client_id: clientId,
        client_secret: Redacted.make("gh-secret"),
        revocation: "github",
        timeoutDuration: "1 second",
      })
      return { server, client }
    }).pipe(Effect.provide(FetchHttpClient.layer))

  it.live("revoke - github: DELETE of the session's access token with Basic credentials in JSON", () =>
    Effect.gen(function* () {
      const { server, client } = yield* gitHub(() => 204)
      yield* client.revoke({ token: "ghr_refresh", token_type_hint: "refresh_token", access_token: "ghu_at" })
      const request = server.requests[0]!
      assert.strictEqual(request.method, "DELETE")
      assert.strictEqual(request.path, `/applications/${clientId}/token`)
      assert.strictEqual(request.headers.authorization, `Basic ${btoa(`${clientId}:gh-secret`)}`)
      assert.strictEqual(request.headers["content-type"], "application/json")
      assert.isString(request.headers["user-agent"])
      assert.deepStrictEqual(JSON.parse(request.body), { access_token: "ghu_at" })
      // Only a refresh token and no access token: nothing GitHub could revoke, no call.
      yield* client.revoke({ token: "ghr_refresh", token_type_hint: "refresh_token" })
      assert.strictEqual(server.requests.length, 1)
    }),
  )

  it.live("revoke - github: 404 (token already gone) succeeds; 422 or 5xx is an upstream error", () =>
    Effect.gen(function* () {
      let status = 404
      const { client } = yield* gitHub(() => status)
      yield* client.revoke({ token: "ghu_at" })
      status = 422
      assert.strictEqual((yield* Effect.flip(client.revoke({ token: "ghu_at" }))).reason, "rejected")
      status = 503
      const outage = yield* Effect.flip(client.revoke({ token: "ghu_at" }))
      assert.isTrue(outage.retryable)
    }),
  )

  it.live("refresh - GitHub's refresh_token_expires_in is the refresh token's lifetime", () =>
    Effect.gen(function* () {
      const { client } = yield* setup("client_secret_basic", {
        token: (_, res) => {
          res.writeHead(200, { "content-type": "application/x-www-form-urlencoded" })
          res.end(
            "access_token=ghu_next&expires_in=28800&refresh_token=ghr_next&refresh_token_expires_in=15897600&scope=&token_type=bearer",
          )
        },
      })
      const tokens = yield* client.refresh({ refresh_token: "ghr_1" })
      assert.strictEqual(tokens.refresh_token, "ghr_next")
      assert.strictEqual(tokens.expires_in, 28800)
      assert.strictEqual(tokens.refresh_expires_in, 15897600)
    }),
  )
})

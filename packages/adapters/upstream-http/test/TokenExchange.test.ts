/**
 * Tests of the downstream-token exchange over real HTTP on 127.0.0.1: the RFC 8693 and Entra
 * on-behalf-of forms with both client authentications, and every answer classified — outage, 5xx,
 * 429, `invalid_grant`, other refusals, redirects, unusable tokens — with no token in a description.
 */
import type { ServerResponse } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import type { DownstreamToken } from "@oidc-proxy/core"
import { Effect, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { TokenExchange } from "../src/index.ts"
import * as FakeServer from "./support/FakeServer.ts"

const secret = "s3cr3t:with/odd chars"
const subject = "upstream-access-token-value"

const setup = (
  answer: (form: URLSearchParams, res: ServerResponse) => void,
  options: {
    readonly method?: TokenExchange.Options["token_endpoint_auth_method"]
    readonly settings?: DownstreamToken.Settings
  } = {},
) =>
  Effect.gen(function* () {
    const server = yield* FakeServer.make((req, res) => answer(req.form, res))
    const exchange = yield* TokenExchange.make({
      endpoint: `${server.origin}/token`,
      client_id: "proxy-client",
      client_secret: Redacted.make(secret),
      token_endpoint_auth_method: options.method,
      settings: options.settings ?? { grant: "exchange", audience: "orders-api", scope: "orders:read" },
      timeoutDuration: "2 seconds",
    })
    return { server, exchange }
  }).pipe(Effect.provide(FetchHttpClient.layer))

const issued = (res: ServerResponse, extra: Record<string, unknown> = {}) =>
  FakeServer.json(res, 200, {
    access_token: "downstream-token-value",
    issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    token_type: "Bearer",
    expires_in: 120,
    ...extra,
  })

describe("TokenExchange", () => {
  it.live("exchange - RFC 8693 form with client_secret_basic; the answer decoded", () =>
    Effect.gen(function* () {
      const { server, exchange } = yield* setup((_form, res) => issued(res))
      const response = yield* exchange(subject)
      assert.strictEqual(response.access_token, "downstream-token-value")
      assert.strictEqual(response.expires_in, 120)
      const request = server.requests[0]!
      assert.deepStrictEqual(Object.fromEntries(request.form), {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token: subject,
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
        audience: "orders-api",
        scope: "orders:read",
      })
      const [user, password] = atob(request.headers.authorization!.slice("Basic ".length)).split(":")
      assert.strictEqual(decodeURIComponent(user!.replace(/\+/g, " ")), "proxy-client")
      assert.strictEqual(decodeURIComponent(password!.replace(/\+/g, " ")), secret)
    }),
  )

  it.live("exchange - Entra on-behalf-of with client_secret_post", () =>
    Effect.gen(function* () {
      const { server, exchange } = yield* setup(
        (_form, res) => issued(res, { issued_token_type: undefined }),
        {
          method: "client_secret_post",
          settings: { grant: "entra-obo", scope: "api://orders/.default" },
        },
      )
      assert.strictEqual((yield* exchange(subject)).access_token, "downstream-token-value")
      const request = server.requests[0]!
      assert.isUndefined(request.headers.authorization)
      assert.deepStrictEqual(Object.fromEntries(request.form), {
        grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
        requested_token_use: "on_behalf_of",
        assertion: subject,
        scope: "api://orders/.default",
        client_id: "proxy-client",
        client_secret: secret,
      })
    }),
  )

  const cases: ReadonlyArray<readonly [string, (res: ServerResponse) => void, string, string | undefined]> = [
    [
      "HTTP 503",
      (res) => FakeServer.json(res, 503, { error: "temporarily_unavailable" }),
      "unavailable",
      undefined,
    ],
    ["HTTP 429", (res) => FakeServer.json(res, 429, {}), "unavailable", undefined],
    [
      "invalid_grant",
      (res) => FakeServer.json(res, 400, { error: "invalid_grant", error_description: subject }),
      "subject_refused",
      "invalid_grant",
    ],
    [
      "invalid_target",
      (res) => FakeServer.json(res, 400, { error: "invalid_target" }),
      "refused",
      "invalid_target",
    ],
    [
      "invalid_client (401)",
      (res) => FakeServer.json(res, 401, { error: "invalid_client" }),
      "refused",
      "invalid_client",
    ],
    [
      "a 403 without a body",
      (res) => {
        res.writeHead(403)
        res.end()
      },
      "refused",
      undefined,
    ],
    [
      "an error code that is not one",
      (res) => FakeServer.json(res, 400, { error: 'bad"code' }),
      "refused",
      undefined,
    ],
    [
      "a redirect",
      (res) => {
        res.writeHead(302, { location: "http://127.0.0.1:1/" })
        res.end()
      },
      "bad_response",
      undefined,
    ],
    ["token_type N_A", (res) => issued(res, { token_type: "N_A" }), "bad_response", undefined],
    [
      "a refresh token issued",
      (res) => issued(res, { issued_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }),
      "bad_response",
      undefined,
    ],
    [
      "no access_token",
      (res) => FakeServer.json(res, 200, { token_type: "Bearer" }),
      "bad_response",
      undefined,
    ],
    [
      "not JSON",
      (res) => {
        res.writeHead(200)
        res.end("<html>")
      },
      "bad_response",
      undefined,
    ],
  ]
  for (const [name, answer, reason, code] of cases)
    it.live(`exchange - ${name} is ${reason}; no token in the description`, () =>
      Effect.gen(function* () {
        const { exchange } = yield* setup((_form, res) => answer(res))
        const error = yield* Effect.flip(exchange(subject))
        assert.strictEqual(error.reason, reason)
        assert.strictEqual(error.error, code)
        assert.notInclude(error.description, subject)
        assert.notInclude(error.description, secret)
      }),
    )

  it.live("exchange - an unreachable endpoint is unavailable", () =>
    Effect.gen(function* () {
      const exchange = yield* TokenExchange.make({
        endpoint: "http://127.0.0.1:1/token",
        client_id: "proxy-client",
        client_secret: Redacted.make(secret),
        settings: { grant: "exchange" },
      }).pipe(Effect.provide(FetchHttpClient.layer))
      assert.strictEqual((yield* Effect.flip(exchange(subject))).reason, "unavailable")
    }),
  )
})

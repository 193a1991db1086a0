import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ClientAuthentication from "../../src/flows/ClientAuthentication.ts"
import * as TokenEndpoint from "../../src/flows/TokenEndpoint.ts"
import {
  credentials,
  oauthFailure,
  type Registered,
  redeem,
  refusedWithoutChange,
  register,
  session,
  signIn,
  tokenBody,
  withProxy,
} from "./support.ts"

const basic = (id: string, secret: string) => `Basic ${btoa(`${id}:${secret}`)}`

const authenticate = (authorization: string | undefined, client_id?: string, client_secret?: string) =>
  ClientAuthentication.authenticate({ authorization, client_id, client_secret })

/** Refused with invalid_client; `basicFlag` says whether the answer must carry `WWW-Authenticate: Basic`. */
const invalidClient = (effect: ReturnType<typeof authenticate>, basicFlag: boolean) =>
  Effect.gen(function* () {
    const failure = yield* refusedWithoutChange(effect, "invalid_client")
    assert.strictEqual(failure.basic === true, basicFlag, failure.description)
  })

const clients = Effect.gen(function* () {
  const byBasic = yield* register({ token_endpoint_auth_method: "client_secret_basic" })
  const byPost = yield* register({ token_endpoint_auth_method: "client_secret_post" })
  const pub = yield* register({ token_endpoint_auth_method: "none" })
  return { byBasic, byPost, pub }
})

describe("ClientAuthentication", () => {
  it.effect("authenticate - each client with its registered method", () =>
    withProxy(
      Effect.gen(function* () {
        const { byBasic, byPost, pub } = yield* clients
        for (const client of [byBasic, byPost, pub]) {
          const { form, authorization } = credentials(client)
          const found = yield* authenticate(authorization, form["client_id"], form["client_secret"])
          assert.strictEqual(found.client_id, client.client_id)
        }
        const withId = yield* authenticate(
          basic(byBasic.client_id, byBasic.client_secret!),
          byBasic.client_id,
        )
        assert.strictEqual(withId.client_id, byBasic.client_id)
      }),
    ),
  )

  it.effect("authenticate - a method other than the registered one is invalid_client", () =>
    withProxy(
      Effect.gen(function* () {
        const { byBasic, byPost, pub } = yield* clients
        yield* invalidClient(authenticate(undefined, byBasic.client_id, byBasic.client_secret), true)
        yield* invalidClient(authenticate(undefined, byBasic.client_id), true)
        yield* invalidClient(authenticate(basic(byPost.client_id, byPost.client_secret!)), true)
        yield* invalidClient(authenticate(undefined, byPost.client_id), false)
        yield* invalidClient(authenticate(undefined, pub.client_id, "any-secret"), false)
        yield* invalidClient(authenticate(undefined, pub.client_id, ""), false)
        yield* invalidClient(authenticate(basic(pub.client_id, "any-secret")), true)
      }),
    ),
  )

  it.effect("authenticate - a wrong secret is invalid_client, flagged basic for HTTP Basic", () =>
    withProxy(
      Effect.gen(function* () {
        const { byBasic, byPost } = yield* clients
        yield* invalidClient(authenticate(basic(byBasic.client_id, "wrong")), true)
        yield* invalidClient(authenticate(basic(byBasic.client_id, "")), true)
        yield* invalidClient(authenticate(basic(byBasic.client_id, byPost.client_secret!)), true)
        yield* invalidClient(authenticate(basic(byBasic.client_id, `${byBasic.client_secret}x`)), true)
        yield* invalidClient(authenticate(undefined, byPost.client_id, "wrong"), false)
        yield* invalidClient(authenticate(undefined, byPost.client_id, byBasic.client_secret), false)
      }),
    ),
  )

  it.effect("authenticate - a malformed Basic header is invalid_client", () =>
    withProxy(
      Effect.gen(function* () {
        const { byBasic } = yield* clients
        for (const header of [
          "Basic",
          "Basic ",
          "Basic !!!!",
          `Basic ${btoa("no-colon")}`,
          `Basic ${btoa(`${byBasic.client_id}:%E0%A4%A`)}`,
          `Basic ${btoa(`${byBasic.client_id}:${byBasic.client_secret}`)} trailing`,
        ]) {
          yield* invalidClient(authenticate(header), true)
        }
      }),
    ),
  )

  it.effect(
    "authenticate - two methods at once, a mismatched client_id, unknown or no client: invalid_client",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { byBasic, pub } = yield* clients
          const header = basic(byBasic.client_id, byBasic.client_secret!)
          yield* invalidClient(authenticate(header, undefined, byBasic.client_secret), true)
          yield* invalidClient(authenticate(header, pub.client_id), true)
          yield* invalidClient(authenticate(basic("no-such-client", "secret")), true)
          yield* invalidClient(authenticate(undefined, "no-such-client"), false)
          yield* invalidClient(authenticate(undefined), false)
          yield* invalidClient(authenticate("Bearer something"), false)
        }),
      ),
  )

  it.effect("token - a failed client authentication leaves the code redeemable", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register({ token_endpoint_auth_method: "client_secret_basic" })
        const signedIn = yield* signIn(client)
        const impostor: Registered = { ...client, client_secret: "guessed" }
        const failure = yield* refusedWithoutChange(redeem(impostor, signedIn), "invalid_client")
        assert.isTrue(failure.basic)
        tokenBody(yield* redeem(client, signedIn))
      }),
    ),
  )

  it.effect("token - unknown, missing or unregistered grant types", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session({ grant_types: ["authorization_code"] })
        const { form, authorization } = credentials(client)
        const failure = (grant_type: string | undefined) =>
          oauthFailure(TokenEndpoint.token({ grant_type, refresh_token: "x", ...form }, authorization))
        assert.strictEqual((yield* failure("password")).error, "unsupported_grant_type")
        assert.strictEqual((yield* failure("client_credentials")).error, "unsupported_grant_type")
        assert.strictEqual((yield* failure("__proto__")).error, "unsupported_grant_type")
        assert.strictEqual((yield* failure(undefined)).error, "invalid_request")
        assert.strictEqual((yield* failure("refresh_token")).error, "unauthorized_client")
        assert.isUndefined(tokens.refresh_token)
      }),
    ),
  )
})

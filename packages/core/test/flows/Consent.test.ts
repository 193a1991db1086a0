import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import * as Pkce from "../../src/Pkce.ts"
import { TestStore, TestUpstreamClient } from "../../src/testing/index.ts"
import {
  authorizeParams,
  consentViewOf,
  cookiesOf,
  locationOf,
  pkce,
  refusedWithoutChange,
  register,
  signIn,
  withProxy,
} from "./support.ts"

/** A client at the consent page: its view and the browser's cookies. */
const atConsent = (params: Record<string, string | undefined> = {}) =>
  Effect.gen(function* () {
    const client = yield* register()
    const { challenge } = yield* pkce
    const outcome = yield* AuthorizationEndpoint.authorize(authorizeParams(client, challenge, params), {})
    return { client, challenge, view: consentViewOf(outcome), cookies: cookiesOf(outcome) }
  })

describe("AuthorizationEndpoint.consent", () => {
  it.effect("consent - a wrong or missing CSRF token is access_denied and changes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const { view, cookies } = yield* atConsent()
        const other = yield* atConsent()
        for (const csrf of ["wrong", "", undefined, other.view.csrf, `${view.csrf}x`]) {
          const failure = yield* refusedWithoutChange(
            AuthorizationEndpoint.consent(
              { transaction: view.transaction, csrf, decision: "approve" },
              cookies,
            ),
            "access_denied",
          )
          assert.isUndefined(failure.redirect)
        }
      }),
    ),
  )

  it.effect("consent - without the browser-binding cookie it is refused and changes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const { view, cookies } = yield* atConsent()
        const other = yield* atConsent()
        const [name] = Object.keys(cookies)
        const form = { transaction: view.transaction, csrf: view.csrf, decision: "approve" }
        for (const jar of [{}, { [name!]: "forged" }, { [name!]: "" }, other.cookies]) {
          const failure = yield* refusedWithoutChange(
            AuthorizationEndpoint.consent(form, jar),
            "access_denied",
          )
          assert.isUndefined(failure.redirect)
        }
      }),
    ),
  )

  it.effect("consent - an unknown transaction is an error page", () =>
    withProxy(
      Effect.gen(function* () {
        const { view, cookies } = yield* atConsent()
        for (const transaction of ["nope", "", undefined]) {
          const failure = yield* refusedWithoutChange(
            AuthorizationEndpoint.consent({ transaction, csrf: view.csrf, decision: "approve" }, cookies),
            "invalid_request",
          )
          assert.isUndefined(failure.redirect)
        }
      }),
    ),
  )

  it.effect("consent - deny: access_denied, state and iss to the client; the transaction is gone", () =>
    withProxy(
      Effect.gen(function* () {
        const { view, cookies } = yield* atConsent()
        const observer = yield* TestStore.TestStore
        assert.strictEqual((yield* observer.keys("txn:")).length, 1)
        const outcome = yield* AuthorizationEndpoint.consent(
          { transaction: view.transaction, csrf: view.csrf, decision: "deny" },
          cookies,
        )
        const url = locationOf(outcome)
        assert.strictEqual(`${url.origin}${url.pathname}`, "https://app.example/callback")
        assert.strictEqual(url.searchParams.get("error"), "access_denied")
        assert.strictEqual(url.searchParams.get("state"), "client-state-1")
        assert.strictEqual(url.searchParams.get("iss"), "https://proxy.test")
        assert.isNull(url.searchParams.get("code"))
        assert.deepStrictEqual(yield* observer.keys("txn:"), [])
        assert.deepStrictEqual(
          Object.keys(cookiesOf(outcome, cookies)),
          ["__Host-oidcp_browser"],
          "the binding cookie is cleared; the browser id stays",
        )
        const again = yield* refusedWithoutChange(
          AuthorizationEndpoint.consent(
            { transaction: view.transaction, csrf: view.csrf, decision: "approve" },
            cookies,
          ),
          "invalid_request",
        )
        assert.isUndefined(again.redirect)
      }),
    ),
  )

  it.effect(
    "consent - approve: to the upstream with state = transaction id and the proxy's own S256 PKCE",
    () =>
      withProxy(
        Effect.gen(function* () {
          const upstream = yield* TestUpstreamClient.TestUpstreamClient
          const client = yield* register()
          const signedIn = yield* signIn(client, { params: { scope: "openid mcp.read" } })
          const url = signedIn.upstreamUrl
          assert.strictEqual(`${url.origin}${url.pathname}`, "https://idp.test/authorize")
          const q = url.searchParams
          assert.strictEqual(q.get("response_type"), "code")
          assert.strictEqual(q.get("client_id"), "proxy-client")
          assert.strictEqual(q.get("redirect_uri"), "https://proxy.test/auth/callback")
          assert.strictEqual(
            q.get("scope"),
            "mcp.read offline_access openid",
            "offline_access: the client may refresh",
          )
          assert.strictEqual(q.get("code_challenge_method"), "S256")
          assert.strictEqual(q.get("prompt"), "login")
          assert.strictEqual(q.get("state"), signedIn.state)
          assert.notStrictEqual(q.get("code_challenge"), signedIn.challenge, "not the client's challenge")
          const [exchange] = yield* upstream.exchanges
          assert.strictEqual(exchange!.redirect_uri, "https://proxy.test/auth/callback")
          assert.notStrictEqual(exchange!.code_verifier, signedIn.verifier)
          assert.strictEqual(yield* Pkce.challengeOf(exchange!.code_verifier), q.get("code_challenge"))
        }),
        { config: { upstream: { extra_authorize_params: { prompt: "login", state: "overridden" } } } },
      ),
  )

  it.effect(
    "consent - offline_access is asked upstream for refreshing clients, only when the upstream offers it",
    () =>
      Effect.gen(function* () {
        const scopeAsked = (
          scopesSupported: ReadonlyArray<string> | null,
          grant_types: ReadonlyArray<string>,
          scope = "openid",
        ) =>
          withProxy(
            Effect.gen(function* () {
              const client = yield* register({ grant_types })
              const signedIn = yield* signIn(client, { params: { scope } })
              return signedIn.upstreamUrl.searchParams.get("scope")
            }),
            { client: { scopesSupported } },
          )
        const both = ["authorization_code", "refresh_token"]
        const codeOnly = ["authorization_code"]
        assert.strictEqual(yield* scopeAsked(["openid", "offline_access"], both), "offline_access openid")
        assert.strictEqual(yield* scopeAsked(null, both), "offline_access openid")
        assert.strictEqual(yield* scopeAsked(["openid"], both), "openid")
        assert.strictEqual(yield* scopeAsked(["openid"], both, "openid offline_access"), "openid")
        assert.strictEqual(yield* scopeAsked(["openid", "offline_access"], codeOnly), "openid")
      }),
  )

  it.effect("consent - the transaction of another client cannot be approved with this browser's cookie", () =>
    withProxy(
      Effect.gen(function* () {
        const mine = yield* atConsent()
        const theirs = yield* atConsent()
        yield* refusedWithoutChange(
          AuthorizationEndpoint.consent(
            { transaction: theirs.view.transaction, csrf: theirs.view.csrf, decision: "approve" },
            mine.cookies,
          ),
          "access_denied",
        )
      }),
    ),
  )
})

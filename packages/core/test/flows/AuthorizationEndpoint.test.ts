import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import { TestStore } from "../../src/testing/index.ts"
import {
  authorizeParams,
  consentViewOf,
  cookiesOf,
  defaultRedirect,
  locationOf,
  oauthFailure,
  pkce,
  refusedWithoutChange,
  register,
  snapshot,
  withProxy,
} from "./support.ts"

const authorize = (params: Record<string, string | undefined>, cookies: Record<string, string> = {}) =>
  AuthorizationEndpoint.authorize(params, cookies)

/** Refused with an error page: no redirect, nothing stored. */
/**
 * Refused on the gateway's own page, nothing stored: every /authorize error comes before the user
 * approved the client, so none is redirected (RFC 9700 §4.11.2; issue 20, finding 11).
 */
const errorPage = (params: Record<string, string | undefined>, error = "invalid_request") =>
  Effect.gen(function* () {
    const failure = yield* refusedWithoutChange(authorize(params), error)
    assert.isUndefined(failure.redirect, "an untrusted request must not be redirected")
  })

describe("AuthorizationEndpoint.authorize", () => {
  it.effect("authorize - unknown or missing client_id: error page, no redirect", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        yield* errorPage(authorizeParams({ ...client, client_id: "no-such-client" }, challenge))
        yield* errorPage(authorizeParams(client, challenge, { client_id: undefined }))
        yield* errorPage(authorizeParams(client, challenge, { client_id: "" }))
      }),
    ),
  )

  it.effect("authorize - a redirect_uri that is not registered: error page, no redirect", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        for (const redirect_uri of [
          "https://evil.example/callback",
          "https://app.example/callback/",
          "https://app.example/callback?x=1",
          "https://app.example/callback#f",
          "https://APP.example/callback",
          "https://app.example:443/callback/../callback",
          "javascript:alert(1)",
          "",
        ]) {
          yield* errorPage(authorizeParams(client, challenge, { redirect_uri }))
        }
      }),
    ),
  )

  it.effect("authorize - no redirect_uri with several registered: error page; with one: that one", () =>
    withProxy(
      Effect.gen(function* () {
        const two = yield* register({ redirect_uris: [defaultRedirect, "https://app.example/other"] })
        const { challenge } = yield* pkce
        yield* errorPage(authorizeParams(two, challenge, { redirect_uri: undefined }))
        const one = yield* register()
        const outcome = yield* authorize(authorizeParams(one, challenge, { redirect_uri: undefined }))
        assert.strictEqual(consentViewOf(outcome).redirectUri, defaultRedirect)
      }),
    ),
  )

  it.effect(
    "authorize - missing PKCE, plain, absent method, malformed challenge: invalid_request on the error page (RFC 9700 §4.11.2)",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const { challenge, verifier } = yield* pkce
          yield* errorPage(
            authorizeParams(client, challenge, { code_challenge: undefined }),
            "invalid_request",
          )
          yield* errorPage(
            authorizeParams(client, verifier, { code_challenge_method: "plain" }),
            "invalid_request",
          )
          yield* errorPage(
            authorizeParams(client, challenge, { code_challenge_method: undefined }),
            "invalid_request",
          )
          for (const bad of ["short", `${challenge}!`, `${challenge} `, "a".repeat(129), ""]) {
            yield* errorPage(authorizeParams(client, bad), "invalid_request")
          }
        }),
      ),
  )

  it.effect(
    "authorize - response_type other than code: unsupported_response_type on the error page, never a redirect",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const { challenge } = yield* pkce
          for (const response_type of ["token", "code id_token", "id_token", undefined]) {
            yield* errorPage(
              authorizeParams(client, challenge, { response_type }),
              "unsupported_response_type",
            )
          }
        }),
      ),
  )

  it.effect("authorize - a resource of another server: invalid_target on the error page (RFC 8707)", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        for (const resource of ["https://other.test/mcp", "https://proxy.test/mcp/", "https://proxy.test"]) {
          yield* errorPage(authorizeParams(client, challenge, { resource }), "invalid_target")
        }
        const ok = yield* authorize(
          authorizeParams(client, challenge, { resource: "https://proxy.test/mcp" }),
        )
        assert.strictEqual(ok._tag, "ConsentPage")
      }),
    ),
  )

  it.effect(
    "authorize - a scope outside scopes_supported or the client's registration: invalid_scope on the error page",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          const narrow = yield* register({ scope: "openid" })
          const { challenge } = yield* pkce
          yield* errorPage(authorizeParams(client, challenge, { scope: "openid admin" }), "invalid_scope")
          yield* errorPage(authorizeParams(narrow, challenge, { scope: "openid mcp.read" }), "invalid_scope")
          const ok = yield* authorize(
            authorizeParams(client, challenge, { scope: "mcp.read openid mcp.read" }),
          )
          assert.deepStrictEqual(consentViewOf(ok).scopes, ["mcp.read", "openid"])
        }),
        { config: { scopes_supported: ["openid", "mcp.read"] } },
      ),
  )

  it.effect(
    "authorize - a step-up scope of the gateway's policy may be asked beyond the client's registration, no other",
    () =>
      withProxy(
        Effect.gen(function* () {
          const narrow = yield* register({ scope: "openid mcp.read" })
          const { challenge } = yield* pkce
          const ok = yield* authorize(
            authorizeParams(narrow, challenge, { scope: "openid mcp.read mcp.write" }),
          )
          assert.deepStrictEqual(consentViewOf(ok).scopes, ["mcp.read", "mcp.write", "openid"])
          yield* errorPage(authorizeParams(narrow, challenge, { scope: "openid mcp.admin" }), "invalid_scope")
        }),
        { config: { step_up_scopes: ["mcp.write"] } },
      ),
  )

  it.effect("authorize - success stores one hashed, encrypted transaction and sets a binding cookie", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        const before = yield* snapshot
        const outcome = yield* authorize(authorizeParams(client, challenge, { scope: "openid" }))
        const view = consentViewOf(outcome)
        const after = yield* snapshot
        // Besides the transaction, the client's quota slot (`Quota`; no source address here).
        const added = [...after.keys()].filter((k) => !before.has(k) && !k.startsWith("quota:"))
        assert.strictEqual(added.length, 1)
        assert.isTrue(added[0]!.startsWith("txn:"))
        assert.notInclude(added[0]!, view.transaction, "the transaction id is stored only as its hash")
        for (const value of after.values()) assert.notInclude(value, view.transaction)
        // The record holds the upstream PKCE verifier and the consent CSRF token: encrypted at rest.
        const stored = after.get(added[0]!)!
        assert.match(stored, /^v1\./)
        assert.notInclude(stored, view.csrf)
        assert.notInclude(stored, "upstream_code_verifier")
        assert.strictEqual(outcome._tag === "ConsentPage" ? outcome.cookies.length : 0, 2)
        const [browser, cookie] = outcome._tag === "ConsentPage" ? outcome.cookies : []
        // https issuer: `__Host-` names, Path=/ (the serializer adds Secure and never a Domain).
        assert.strictEqual(browser!.name, "__Host-oidcp_browser")
        assert.match(browser!.value, /^[\w-]{43}\.[\w-]{43}$/)
        assert.strictEqual(browser!.path, "/")
        assert.match(cookie!.name, /^__Host-oidcp_tx_[\w-]{16}$/)
        assert.strictEqual(cookie!.maxAge, 600)
        assert.strictEqual(cookie!.path, "/")
        assert.isTrue(cookie!.value.length >= 40)
        assert.strictEqual(view.clientName, "Test client")
        assert.strictEqual(view.redirectHost, "app.example")
        assert.strictEqual(view.action, "https://proxy.test/consent")
        assert.include(view.formTargets, "https://idp.test")
        assert.include(view.formTargets, "https://app.example")
      }),
    ),
  )

  it.effect("authorize - consent off: straight to the upstream, still bound to the browser", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        const outcome = yield* authorize(authorizeParams(client, challenge))
        const url = locationOf(outcome)
        assert.strictEqual(url.origin + url.pathname, "https://idp.test/authorize")
        assert.strictEqual(Object.keys(cookiesOf(outcome)).length, 2)
        assert.strictEqual((yield* (yield* TestStore.TestStore).keys("txn:")).length, 1)
      }),
      { config: { consent: "off" } },
    ),
  )

  it.effect("authorize - consent remember: asked once per client and browser, again for more scope", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const other = yield* register()
        const { challenge } = yield* pkce
        const first = yield* authorize(authorizeParams(client, challenge, { scope: "openid mcp.read" }))
        const view = consentViewOf(first)
        const approved = yield* AuthorizationEndpoint.consent(
          { transaction: view.transaction, csrf: view.csrf, decision: "approve" },
          cookiesOf(first),
        )
        // The browser id is minted at /authorize; the approval sets no cookie of its own.
        assert.deepStrictEqual(cookiesOf(approved), {})
        const browserId = cookiesOf(first)["__Host-oidcp_browser"]
        assert.isString(browserId)
        const remembered = { "__Host-oidcp_browser": browserId! }
        const again = yield* authorize(authorizeParams(client, challenge, { scope: "mcp.read" }), remembered)
        assert.strictEqual(locationOf(again).origin, "https://idp.test")
        const more = yield* authorize(
          authorizeParams(client, challenge, { scope: "openid mcp.write" }),
          remembered,
        )
        assert.strictEqual(more._tag, "ConsentPage")
        const otherClient = yield* authorize(
          authorizeParams(other, challenge, { scope: "openid" }),
          remembered,
        )
        assert.strictEqual(otherClient._tag, "ConsentPage")
        const otherBrowser = yield* authorize(authorizeParams(client, challenge, { scope: "openid" }), {
          "__Host-oidcp_browser": "forged-browser-id",
        })
        assert.strictEqual(otherBrowser._tag, "ConsentPage")
        // A planted id of the right shape whose MAC does not verify is replaced, never adopted.
        const [id] = browserId!.split(".")
        const planted = yield* authorize(authorizeParams(client, challenge, { scope: "openid" }), {
          "__Host-oidcp_browser": `${id}.${"A".repeat(43)}`,
        })
        assert.strictEqual(planted._tag, "ConsentPage")
        assert.notStrictEqual(cookiesOf(planted)["__Host-oidcp_browser"]!.split(".")[0], id)
      }),
      { config: { consent: "remember" } },
    ),
  )

  it.effect("authorize - consent on: every sign-in shows the page, even after an approval", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        const first = yield* authorize(authorizeParams(client, challenge))
        const view = consentViewOf(first)
        const approved = yield* AuthorizationEndpoint.consent(
          { transaction: view.transaction, csrf: view.csrf, decision: "approve" },
          cookiesOf(first),
        )
        assert.deepStrictEqual(cookiesOf(approved), {})
        const second = yield* authorize(
          authorizeParams(client, challenge),
          cookiesOf(approved, cookiesOf(first)),
        )
        assert.strictEqual(second._tag, "ConsentPage")
      }),
    ),
  )

  it.effect(
    "authorize - a registered loopback redirect matches any port, not another host or path (RFC 8252)",
    () =>
      withProxy(
        Effect.gen(function* () {
          const client = yield* register({ redirect_uris: ["http://127.0.0.1/callback"] })
          const { challenge } = yield* pkce
          for (const redirect_uri of ["http://127.0.0.1:51234/callback", "http://127.0.0.1/callback"]) {
            const ok = yield* authorize(authorizeParams(client, challenge, { redirect_uri }))
            assert.strictEqual(consentViewOf(ok).redirectUri, redirect_uri)
          }
          for (const redirect_uri of [
            "http://localhost:51234/callback",
            "http://127.0.0.1:51234/other",
            "https://127.0.0.1:51234/callback",
            "http://127.0.0.1:51234/callback?x=1",
            "http://evil@127.0.0.1:51234/callback",
          ]) {
            yield* errorPage(authorizeParams(client, challenge, { redirect_uri }))
          }
        }),
      ),
  )

  it.effect("authorize - the transaction expires after ttl.transaction", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        const outcome = yield* authorize(authorizeParams(client, challenge))
        const view = consentViewOf(outcome)
        yield* TestClock.adjust("601 seconds")
        const failure = yield* oauthFailure(
          AuthorizationEndpoint.consent(
            { transaction: view.transaction, csrf: view.csrf, decision: "approve" },
            cookiesOf(outcome),
          ),
        )
        assert.strictEqual(failure.error, "invalid_request")
        assert.isUndefined(failure.redirect)
      }),
    ),
  )
})

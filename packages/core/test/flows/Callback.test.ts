import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import * as CallbackEndpoint from "../../src/flows/CallbackEndpoint.ts"
import { TestStore, TestUpstreamClient } from "../../src/testing/index.ts"
import {
  authorizeParams,
  consentViewOf,
  cookiesOf,
  locationOf,
  pkce,
  refusedWithoutChange,
  register,
  snapshot,
  toUpstream,
  withProxy,
} from "./support.ts"

const callback = CallbackEndpoint.callback

/** The browser is at the IdP; the IdP will accept `upstream-code` with `script`. */
const atIdp = (script: TestUpstreamClient.CodeScript = {}) =>
  Effect.gen(function* () {
    const client = yield* register()
    const at = yield* toUpstream(client)
    yield* (yield* TestUpstreamClient.TestUpstreamClient).setCode("upstream-code", script)
    return { client, ...at }
  })

const storedKeys = (prefix: string) => Effect.flatMap(TestStore.TestStore, (s) => s.keys(prefix))

/** The client's redirect after the callback: error or code, with state and iss always. */
const clientRedirect = (outcome: Parameters<typeof locationOf>[0]) => {
  const url = locationOf(outcome)
  assert.strictEqual(`${url.origin}${url.pathname}`, "https://app.example/callback")
  assert.strictEqual(url.searchParams.get("state"), "client-state-1")
  assert.strictEqual(url.searchParams.get("iss"), "https://proxy.test")
  return url.searchParams
}

describe("CallbackEndpoint.callback", () => {
  it.effect("callback - without the binding cookie: refused, the transaction still exists", () =>
    withProxy(
      Effect.gen(function* () {
        const { state, cookies } = yield* atIdp()
        const other = yield* toUpstream(yield* register())
        const [name] = Object.keys(cookies)
        for (const jar of [{}, { [name!]: "forged" }, other.cookies]) {
          const failure = yield* refusedWithoutChange(
            callback({ state, code: "upstream-code" }, jar),
            "access_denied",
          )
          assert.isUndefined(failure.redirect)
        }
        assert.strictEqual((yield* storedKeys("txn:")).length, 2)
        assert.strictEqual((yield* (yield* TestUpstreamClient.TestUpstreamClient).exchanges).length, 0)
        // The right browser still completes the sign-in.
        clientRedirect(yield* callback({ state, code: "upstream-code" }, cookies))
      }),
    ),
  )

  it.effect("callback - a victim browser carrying the attacker's tossed transaction cookie is refused", () =>
    withProxy(
      Effect.gen(function* () {
        // The attacker starts a sign-in in their own browser and plants its transaction cookie in
        // the victim's browser, which holds its own server-minted browser id.
        const attacker = yield* atIdp()
        const victim = yield* toUpstream(yield* register())
        const txCookie = Object.keys(attacker.cookies).find((n) => n.startsWith("__Host-oidcp_tx_"))!
        const victimJar = { ...victim.cookies, [txCookie]: attacker.cookies[txCookie]! }
        yield* refusedWithoutChange(
          callback({ state: attacker.state, code: "upstream-code" }, victimJar),
          "access_denied",
        )
        // Nor with no browser id at all, or one the server did not mint.
        for (const browser of [undefined, "planted.value"]) {
          const jar: Record<string, string> = { [txCookie]: attacker.cookies[txCookie]! }
          if (browser !== undefined) jar["__Host-oidcp_browser"] = browser
          yield* refusedWithoutChange(
            callback({ state: attacker.state, code: "upstream-code" }, jar),
            "access_denied",
          )
        }
        assert.strictEqual((yield* (yield* TestUpstreamClient.TestUpstreamClient).exchanges).length, 0)
      }),
    ),
  )

  it.effect("callback - a replayed or unknown state is refused without a redirect", () =>
    withProxy(
      Effect.gen(function* () {
        const { state, cookies } = yield* atIdp()
        const first = clientRedirect(yield* callback({ state, code: "upstream-code" }, cookies))
        assert.isString(first.get("code"))
        const upstream = yield* TestUpstreamClient.TestUpstreamClient
        yield* upstream.setCode("upstream-code-2")
        for (const replayState of [state, "unknown", "", undefined]) {
          const failure = yield* refusedWithoutChange(
            callback({ state: replayState, code: "upstream-code-2" }, cookies),
            "invalid_request",
          )
          assert.isUndefined(failure.redirect)
        }
        assert.strictEqual((yield* upstream.exchanges).length, 1)
      }),
    ),
  )

  it.effect("callback - before the user approved (consent on) it is refused and changes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const { challenge } = yield* pkce
        const outcome = yield* AuthorizationEndpoint.authorize(authorizeParams(client, challenge), {})
        const view = consentViewOf(outcome)
        yield* refusedWithoutChange(
          callback({ state: view.transaction, code: "upstream-code" }, cookiesOf(outcome)),
          "access_denied",
        )
      }),
    ),
  )

  it.effect("callback - the IdP's error goes to the client with state and iss; the transaction is gone", () =>
    withProxy(
      Effect.gen(function* () {
        for (const [idpError, forwarded] of [
          ["access_denied", "access_denied"],
          ["temporarily_unavailable", "temporarily_unavailable"],
          ["interaction_required", "server_error"],
          ["<script>", "server_error"],
        ] as const) {
          const { state, cookies } = yield* atIdp()
          const outcome = yield* callback(
            { state, error: idpError, error_description: "<b>nope</b>" },
            cookies,
          )
          const q = clientRedirect(outcome)
          assert.strictEqual(q.get("error"), forwarded)
          assert.notInclude(q.get("error_description") ?? "", "<")
          assert.isNull(q.get("code"))
          assert.deepStrictEqual(
            Object.keys(cookiesOf(outcome, cookies)),
            ["__Host-oidcp_browser"],
            "the binding cookie is cleared; the browser id stays",
          )
        }
        assert.deepStrictEqual(yield* storedKeys("txn:"), [])
        assert.deepStrictEqual(yield* storedKeys("code:"), [])
        assert.deepStrictEqual(yield* storedKeys("upstream:"), [])
      }),
    ),
  )

  it.effect(
    "callback - an upstream exchange failure: server_error or temporarily_unavailable, nothing stored",
    () =>
      withProxy(
        Effect.gen(function* () {
          for (const [script, error] of [
            [{ error: TestUpstreamClient.rejected() }, "server_error"],
            [{ error: TestUpstreamClient.unreachable() }, "temporarily_unavailable"],
          ] as const) {
            const { state, cookies } = yield* atIdp(script)
            const q = clientRedirect(yield* callback({ state, code: "upstream-code" }, cookies))
            assert.strictEqual(q.get("error"), error)
            assert.isNull(q.get("code"))
          }
          const { state, cookies } = yield* atIdp()
          const q = clientRedirect(yield* callback({ state, code: "not-the-scripted-code" }, cookies))
          assert.strictEqual(q.get("error"), "server_error")
          assert.deepStrictEqual(yield* storedKeys("upstream:"), [])
          assert.deepStrictEqual(yield* storedKeys("code:"), [])
        }),
      ),
  )

  it.effect(
    "callback - with openid a fresh nonce goes upstream and the code exchange expects exactly it",
    () =>
      withProxy(
        Effect.gen(function* () {
          const upstream = yield* TestUpstreamClient.TestUpstreamClient
          const first = yield* atIdp()
          const second = yield* toUpstream(first.client)
          const nonce = first.upstreamUrl.searchParams.get("nonce")
          // Providers such as glewlwyd refuse an openid authorization request without a nonce.
          assert.match(nonce ?? "", /^[\w-]{43}$/)
          assert.notStrictEqual(second.upstreamUrl.searchParams.get("nonce"), nonce)
          clientRedirect(yield* callback({ state: first.state, code: "upstream-code" }, first.cookies))
          const [exchange] = yield* upstream.exchanges
          assert.strictEqual(exchange?.nonce, nonce)
        }),
      ),
  )

  it.effect("callback - without openid upstream no nonce is sent and none is expected", () =>
    withProxy(
      Effect.gen(function* () {
        const { state, cookies, upstreamUrl } = yield* atIdp()
        assert.notInclude(upstreamUrl.searchParams.get("scope") ?? "", "openid")
        assert.isFalse(upstreamUrl.searchParams.has("nonce"))
        clientRedirect(yield* callback({ state, code: "upstream-code" }, cookies))
        const [exchange] = yield* (yield* TestUpstreamClient.TestUpstreamClient).exchanges
        assert.isUndefined(exchange?.nonce)
      }),
      { config: { upstream: { scopes: ["mcp:read"] } } },
    ),
  )

  it.effect("callback - an upstream token that fails verification: server_error, nothing stored", () =>
    withProxy(
      Effect.gen(function* () {
        for (const script of [
          { claims: { aud: "someone-else" } },
          { claims: { iss: "https://evil.test" } },
          { idToken: false },
          { claims: { sub: "" } },
        ]) {
          const { state, cookies } = yield* atIdp(script)
          const q = clientRedirect(yield* callback({ state, code: "upstream-code" }, cookies))
          assert.strictEqual(q.get("error"), "server_error", JSON.stringify(script))
        }
        assert.deepStrictEqual(yield* storedKeys("upstream:"), [])
        assert.deepStrictEqual(yield* storedKeys("code:"), [])
      }),
      { config: { verification_mode: "id_token" } },
    ),
  )

  it.effect(
    "callback - an iss other than the upstream's is server_error before any exchange (RFC 9207)",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { state, cookies } = yield* atIdp()
          const q = clientRedirect(
            yield* callback({ state, code: "upstream-code", iss: "https://evil.test" }, cookies),
          )
          assert.strictEqual(q.get("error"), "server_error")
          const missing = yield* atIdp()
          yield* callback({ state: missing.state, code: "upstream-code" }, missing.cookies).pipe(
            Effect.map((outcome) => assert.strictEqual(clientRedirect(outcome).get("error"), "server_error")),
          )
          assert.strictEqual((yield* (yield* TestUpstreamClient.TestUpstreamClient).exchanges).length, 0)
          assert.deepStrictEqual(yield* storedKeys("code:"), [])
          const right = yield* atIdp()
          const ok = clientRedirect(
            yield* callback(
              { state: right.state, code: "upstream-code", iss: "https://idp.test" },
              right.cookies,
            ),
          )
          assert.isString(ok.get("code"))
        }),
        { client: { metadata: { authorization_response_iss_parameter_supported: true } } },
      ),
  )

  it.effect("callback - no code in the IdP's answer: server_error to the client", () =>
    withProxy(
      Effect.gen(function* () {
        const { state, cookies } = yield* atIdp()
        const q = clientRedirect(yield* callback({ state }, cookies))
        assert.strictEqual(q.get("error"), "server_error")
        assert.deepStrictEqual(yield* storedKeys("code:"), [])
      }),
    ),
  )

  it.effect(
    "callback - success: the client's code with state and iss; the upstream tokens are stored encrypted",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { state, cookies } = yield* atIdp({ scope: "openid profile" })
          const outcome = yield* callback({ state, code: "upstream-code" }, cookies)
          const q = clientRedirect(outcome)
          const code = q.get("code")!
          assert.isTrue(code.length >= 40)
          assert.isNull(q.get("error"))
          assert.deepStrictEqual(
            Object.keys(cookiesOf(outcome, cookies)),
            ["__Host-oidcp_browser"],
            "the binding cookie is cleared; the browser id stays",
          )
          assert.deepStrictEqual(yield* storedKeys("txn:"), [])
          assert.strictEqual((yield* storedKeys("code:")).length, 1)
          assert.strictEqual((yield* storedKeys("upstream:")).length, 1)
          const issued = yield* (yield* TestUpstreamClient.TestUpstreamClient).issuedTokens
          assert.strictEqual(issued.length, 3, "access token, id_token, refresh token")
          const stored = yield* snapshot
          for (const [key, value] of stored) {
            assert.notInclude(key, code)
            assert.notInclude(value, code)
            for (const token of issued)
              assert.notInclude(value, token, `${key} holds an upstream token in clear`)
          }
          const [upstreamKey] = yield* storedKeys("upstream:")
          assert.match(stored.get(upstreamKey!)!, /^v1\.k1\./)
        }),
      ),
  )
})

import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as RegisterEndpoint from "../../src/flows/RegisterEndpoint.ts"
import { refusedWithoutChange, register, snapshot, withProxy } from "./support.ts"

const valid = {
  redirect_uris: ["https://app.example/callback"],
  token_endpoint_auth_method: "none",
}

/** Registration with `metadata` is refused with `error` and stores nothing. */
const refused = (metadata: Record<string, unknown>, error: string, bearer?: string) =>
  refusedWithoutChange(RegisterEndpoint.register(metadata, bearer), error)

const badRedirect = (uris: unknown, applicationType?: string) =>
  refused(
    {
      ...valid,
      redirect_uris: uris,
      ...(applicationType === undefined ? {} : { application_type: applicationType }),
    },
    "invalid_redirect_uri",
  )

describe("RegisterEndpoint", () => {
  it.effect("register - a public client gets an id, no secret, and is stored", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register({ token_endpoint_auth_method: "none" })
        assert.isString(client.client_id)
        assert.isUndefined(client.client_secret)
        assert.isUndefined(client.body["client_secret_hash"])
        assert.strictEqual(client.token_endpoint_auth_method, "none")
        assert.deepStrictEqual([...(yield* snapshot).keys()], [`client:${client.client_id}`])
      }),
    ),
  )

  it.effect("register - a confidential client gets its secret once; the store holds only a hash", () =>
    withProxy(
      Effect.gen(function* () {
        for (const method of ["client_secret_basic", "client_secret_post"]) {
          const outcome = yield* RegisterEndpoint.register(
            { ...valid, token_endpoint_auth_method: method },
            undefined,
          )
          assert.strictEqual(outcome._tag, "Json")
          if (outcome._tag !== "Json") return
          assert.strictEqual(outcome.status, 201)
          assert.strictEqual(outcome.headers?.["cache-control"], "no-store")
          const body = outcome.body as Record<string, unknown>
          const secret = body["client_secret"] as string
          assert.isTrue(secret.length >= 40, "the secret carries at least 256 bits")
          assert.strictEqual(body["client_secret_expires_at"], 0)
          assert.isUndefined(body["client_secret_hash"])
          for (const value of (yield* snapshot).values()) assert.notInclude(value, secret)
        }
      }),
    ),
  )

  it.effect("register - no token_endpoint_auth_method means client_secret_basic (RFC 7591 §2)", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* RegisterEndpoint.register({ redirect_uris: valid.redirect_uris }, undefined)
        assert.strictEqual(client._tag, "Json")
        if (client._tag === "Json") {
          const body = client.body as Record<string, unknown>
          assert.strictEqual(body["token_endpoint_auth_method"], "client_secret_basic")
          assert.isString(body["client_secret"])
        }
      }),
    ),
  )

  it.effect("register - javascript:, data:, file: redirect URIs are invalid_redirect_uri", () =>
    withProxy(
      Effect.gen(function* () {
        yield* badRedirect(["javascript:alert(1)"])
        yield* badRedirect(["data:text/html,<script>alert(1)</script>"])
        yield* badRedirect(["file:///etc/passwd"])
        yield* badRedirect(["javascript:alert(1)"], "native")
      }),
    ),
  )

  it.effect("register - http on a non-loopback host is invalid_redirect_uri; loopback http is accepted", () =>
    withProxy(
      Effect.gen(function* () {
        yield* badRedirect(["http://app.example/callback"])
        yield* badRedirect(["http://127.0.0.1.nip.io/callback"])
        const loopback = yield* register({
          redirect_uris: ["http://127.0.0.1/callback", "http://localhost:3000/cb", "http://[::1]/cb"],
        })
        assert.strictEqual(loopback.redirect_uris.length, 3)
      }),
    ),
  )

  it.effect("register - fragment, userinfo, .. segment, non-URL are invalid_redirect_uri", () =>
    withProxy(
      Effect.gen(function* () {
        yield* badRedirect(["https://app.example/callback#frag"])
        yield* badRedirect(["https://app.example/callback#"])
        yield* badRedirect(["https://user:pass@app.example/callback"])
        yield* badRedirect(["https://user@app.example/callback"])
        yield* badRedirect(["https://app.example/a/../callback"])
        yield* badRedirect(["https://app.example/a/%2e%2e/callback"])
        yield* badRedirect(["not a url"])
        yield* badRedirect(["/relative/callback"])
        yield* badRedirect([""])
        yield* badRedirect([42])
        yield* badRedirect("https://app.example/callback")
        yield* badRedirect([])
      }),
    ),
  )

  it.effect("register - more than 10 redirect URIs, or an oversize one, is invalid_redirect_uri", () =>
    withProxy(
      Effect.gen(function* () {
        const many = Array.from({ length: 11 }, (_, i) => `https://app.example/cb${i}`)
        yield* badRedirect(many)
        yield* badRedirect(Array.from({ length: 10_000 }, () => "https://app.example/cb"))
        yield* badRedirect([`https://app.example/${"a".repeat(3000)}`])
        const ten = yield* register({ redirect_uris: many.slice(0, 10) })
        assert.strictEqual(ten.redirect_uris.length, 10)
      }),
    ),
  )

  it.effect("register - a private-use scheme needs application_type native", () =>
    withProxy(
      Effect.gen(function* () {
        yield* badRedirect(["com.example.app:/oauth/callback"])
        yield* badRedirect(["com.example.app:/oauth/callback"], "web")
        yield* badRedirect(["myapp:/callback"], "native")
        const native = yield* register({
          redirect_uris: ["com.example.app:/oauth/callback"],
          application_type: "native",
        })
        assert.deepStrictEqual(native.redirect_uris, ["com.example.app:/oauth/callback"])
        assert.strictEqual(native.body["application_type"], "native")
      }),
    ),
  )

  it.effect("register - an unknown grant or response type is invalid_client_metadata", () =>
    withProxy(
      Effect.gen(function* () {
        yield* refused(
          { ...valid, grant_types: ["authorization_code", "password"] },
          "invalid_client_metadata",
        )
        yield* refused({ ...valid, grant_types: ["client_credentials"] }, "invalid_client_metadata")
        yield* refused({ ...valid, grant_types: ["refresh_token"] }, "invalid_client_metadata")
        yield* refused({ ...valid, grant_types: "authorization_code" }, "invalid_client_metadata")
        yield* refused({ ...valid, response_types: ["token"] }, "invalid_client_metadata")
        yield* refused({ ...valid, token_endpoint_auth_method: "private_key_jwt" }, "invalid_client_metadata")
        yield* refused({ ...valid, application_type: "desktop" }, "invalid_client_metadata")
      }),
    ),
  )

  it.effect("register - a scope outside scopes_supported is invalid_client_metadata", () =>
    withProxy(
      Effect.gen(function* () {
        yield* refused({ ...valid, scope: "openid admin" }, "invalid_client_metadata")
        const ok = yield* register({ scope: "mcp.read   openid" })
        assert.strictEqual(ok.body["scope"], "mcp.read openid")
      }),
      { config: { scopes_supported: ["openid", "mcp.read"] } },
    ),
  )

  it.effect("register - non-string and oversize strings are invalid_client_metadata", () =>
    withProxy(
      Effect.gen(function* () {
        yield* refused({ ...valid, client_name: 42 }, "invalid_client_metadata")
        yield* refused({ ...valid, client_name: { en: "x" } }, "invalid_client_metadata")
        yield* refused({ ...valid, client_name: "x".repeat(513) }, "invalid_client_metadata")
        yield* refused({ ...valid, software_id: "x".repeat(10_000) }, "invalid_client_metadata")
        yield* refused({ ...valid, client_uri: "javascript:alert(1)" }, "invalid_client_metadata")
        yield* refused({ ...valid, logo_uri: "http://evil.example/logo.png" }, "invalid_client_metadata")
        yield* refused({ ...valid, scope: ["openid"] }, "invalid_client_metadata")
        yield* refused([valid] as unknown as Record<string, unknown>, "invalid_client_metadata")
        yield* refused(null as unknown as Record<string, unknown>, "invalid_client_metadata")
      }),
    ),
  )

  it.effect("register - disabled registration is refused (access_denied)", () =>
    withProxy(
      Effect.gen(function* () {
        yield* refused(valid, "access_denied")
      }),
      { config: { registration: { enabled: false } } },
    ),
  )

  it.effect("register - an initial access token, when configured, is required and must match", () =>
    withProxy(
      Effect.gen(function* () {
        yield* refused(valid, "invalid_token")
        yield* refused(valid, "invalid_token", "wrong-token")
        yield* refused(valid, "invalid_token", "iat-secret-123")
        yield* refused(valid, "invalid_token", "iat-secret-1234-and-more")
        const ok = yield* register(valid, "iat-secret-1234")
        assert.isString(ok.client_id)
      }),
      { config: { registration: { initial_access_token: "iat-secret-1234" } } },
    ),
  )

  it.effect("register - redirect URIs outside the allow-list are invalid_redirect_uri", () =>
    withProxy(
      Effect.gen(function* () {
        yield* badRedirect(["https://evil.example/callback"])
        yield* badRedirect(["https://app.example/other/callback"])
        yield* badRedirect(["https://app.example.evil.example/callback"])
        yield* badRedirect(["https://app.example/callback", "https://evil.example/callback"])
        yield* badRedirect(["https://tenant.app.example/x/callback"])
        const ok = yield* register({
          redirect_uris: ["https://app.example/callback", "https://tenant.app.example/callback"],
        })
        assert.strictEqual(ok.redirect_uris.length, 2)
        const loopback = yield* register({ redirect_uris: ["http://127.0.0.1/any/deep/path"] })
        assert.strictEqual(loopback.redirect_uris.length, 1)
      }),
      {
        config: {
          registration: {
            allowed_redirect_uris: [
              "https://app.example/callback",
              "https://*.app.example/callback",
              "http://127.0.0.1/**",
            ],
          },
        },
      },
    ),
  )
})

/**
 * The HTTP edge: discovery documents, input limits, the one error mapper and the bearer check,
 * over Web `Request`/`Response` with the core's full test layer (no network).
 */
import { ClientMetadataFetcher, OAuthError, Store } from "@oidc-proxy/core"
import { TestProxy, TestStore, TestUpstream } from "@oidc-proxy/core/testing"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WebHandler } from "../src/index.ts"

/** A document fetcher that refuses everything (the tests here fetch no document). */
const noDocuments = ClientMetadataFetcher.layerTest(() =>
  Effect.fail(new OAuthError.ClientMetadataError({ reason: "unreachable", description: "test" })),
)

const setup = async (
  overrides: Record<string, unknown> = {},
  store?: Layer.Layer<Store.Store>,
  fetcher: Layer.Layer<never> = noDocuments,
) => {
  const upstream = await Effect.runPromise(TestUpstream.make())
  const issuer = (overrides["issuer"] as string | undefined) ?? "https://proxy.test"
  const layer = TestProxy.layerFull(
    upstream,
    TestProxy.config(upstream, { issuer, resource: `${issuer}/mcp`, ...overrides }),
    store === undefined ? {} : { store },
  ).pipe(Layer.provideMerge(fetcher))
  const built = await WebHandler.fromLayer(layer, {
    onAuthorized: () => new Response("reached", { status: 200 }),
  })
  const keys = async (prefix?: string) =>
    Effect.runPromise(
      Effect.provide(
        TestStore.TestStore.use((t) => t.keys(prefix)),
        layer,
      ),
    )
  return { ...built, issuer, keys }
}

const register = (handler: WebHandler.Handler, issuer: string, body: unknown) =>
  handler(
    new Request(`${issuer}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  )

/** Registers a public client redirecting to `https://app.example/cb`: its client_id. */
const registerPublic = async (handler: WebHandler.Handler, issuer: string) => {
  const reg = await register(handler, issuer, {
    redirect_uris: ["https://app.example/cb"],
    token_endpoint_auth_method: "none",
  })
  return ((await reg.json()) as { client_id: string }).client_id
}

describe("WebHandler", () => {
  let h: Awaited<ReturnType<typeof setup>>
  beforeAll(async () => {
    h = await setup()
  })
  afterAll(() => h.dispose())

  it("metadata - advertises exactly what is enforced (RFC 8414)", async () => {
    const res = await h.handler(new Request("https://proxy.test/.well-known/oauth-authorization-server"))
    expect(res.status).toBe(200)
    const m = (await res.json()) as Record<string, unknown>
    expect(m["issuer"]).toBe("https://proxy.test")
    expect(m["code_challenge_methods_supported"]).toEqual(["S256"])
    expect(m["token_endpoint_auth_methods_supported"]).toEqual([
      "none",
      "client_secret_basic",
      "client_secret_post",
      "private_key_jwt",
    ])
    expect(m["grant_types_supported"]).toEqual(["authorization_code", "refresh_token"])
    expect(m["authorization_response_iss_parameter_supported"]).toBe(true)
    expect(m["registration_endpoint"]).toBe("https://proxy.test/register")
    expect(m["client_id_metadata_document_supported"]).toBe(true)
    const alias = await h.handler(new Request("https://proxy.test/.well-known/openid-configuration"))
    expect(await alias.json()).toEqual(m)
  })

  it("metadata - CIMD and DCR switched off are not advertised, and /register refuses", async () => {
    const p = await setup({
      registration: { enabled: false },
      client_id_metadata_documents: { enabled: false },
    })
    try {
      const res = await p.handler(new Request("https://proxy.test/.well-known/oauth-authorization-server"))
      const m = (await res.json()) as Record<string, unknown>
      expect(m["client_id_metadata_document_supported"]).toBe(false)
      expect(m["registration_endpoint"]).toBeUndefined()
      expect(m["token_endpoint_auth_methods_supported"]).not.toContain("private_key_jwt")
      expect(m["authorization_response_iss_parameter_supported"]).toBe(true)
      const reg = await register(p.handler, p.issuer, { redirect_uris: ["https://app.example/cb"] })
      expect(reg.status).toBe(403)
      expect(await p.keys("client:")).toEqual([])
    } finally {
      await p.dispose()
    }
  })

  it("metadata - without a document fetcher CIMD is not advertised and URL client ids are unknown", async () => {
    const p = await setup({}, undefined, Layer.empty)
    try {
      const res = await p.handler(new Request("https://proxy.test/.well-known/oauth-authorization-server"))
      const m = (await res.json()) as Record<string, unknown>
      expect(m["client_id_metadata_document_supported"]).toBe(false)
      const authorize = await p.handler(
        new Request(
          `https://proxy.test/authorize?client_id=${encodeURIComponent("https://client.example/c.json")}&response_type=code`,
        ),
      )
      expect(authorize.status).toBe(400)
      expect(await authorize.text()).toContain("Unknown client_id")
    } finally {
      await p.dispose()
    }
  })

  it("authorize - an error before consent is the gateway's page, never a redirect (RFC 9700 §4.11.2), under a path issuer too", async () => {
    const p = await setup({ issuer: "https://host.test/tools/github", scopes_supported: ["openid"] })
    try {
      const client_id = await registerPublic(p.handler, p.issuer)
      const base = `${p.issuer}/authorize?client_id=${client_id}&redirect_uri=${encodeURIComponent("https://app.example/cb")}&state=s1`
      for (const query of [
        "&response_type=token",
        "&response_type=code",
        "&response_type=code&code_challenge=abc&code_challenge_method=plain",
        "&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&resource=https://other.test",
        "&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=not-offered",
      ]) {
        const res = await p.handler(new Request(`${base}${query}`))
        expect(res.status, query).toBe(400)
        expect(res.headers.get("location"), query).toBeNull()
        expect(res.headers.get("content-type"), query).toContain("text/html")
      }
    } finally {
      await p.dispose()
    }
  })

  it("authorize - an https issuer (with a path) sets __Host- cookies: Secure, Path=/, no Domain", async () => {
    const p = await setup({ issuer: "https://host.test/tools/github", scopes_supported: ["openid"] })
    try {
      const client_id = await registerPublic(p.handler, p.issuer)
      const res = await p.handler(
        new Request(
          `${p.issuer}/authorize?client_id=${client_id}&redirect_uri=${encodeURIComponent("https://app.example/cb")}&response_type=code&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`,
        ),
      )
      expect(res.status).toBe(200)
      const cookies = res.headers.getSetCookie()
      expect(cookies.map((c) => c.split("=")[0])).toEqual([
        "__Host-oidcp_browser",
        expect.stringMatching(/^__Host-oidcp_tx_[\w-]{16}$/),
      ])
      for (const cookie of cookies) {
        const attributes = cookie.split("; ").slice(1)
        expect(attributes).toContain("Secure")
        expect(attributes).toContain("Path=/")
        expect(attributes).toContain("HttpOnly")
        expect(attributes.some((a) => /^domain=/i.test(a))).toBe(false)
      }
    } finally {
      await p.dispose()
    }
  })

  it("metadata - protected resource at the path-inserted URL (RFC 9728)", async () => {
    const res = await h.handler(new Request("https://proxy.test/.well-known/oauth-protected-resource/mcp"))
    const m = (await res.json()) as Record<string, unknown>
    expect(m["resource"]).toBe("https://proxy.test/mcp")
    expect(m["authorization_servers"]).toEqual(["https://proxy.test"])
  })

  it("metadata - an issuer with a path is served at the path-inserted well-known URL", async () => {
    const p = await setup({ issuer: "https://host.test/tools/github" })
    try {
      const res = await p.handler(
        new Request("https://host.test/.well-known/oauth-authorization-server/tools/github"),
      )
      expect(res.status).toBe(200)
      const m = (await res.json()) as Record<string, unknown>
      expect(m["issuer"]).toBe("https://host.test/tools/github")
      expect(m["token_endpoint"]).toBe("https://host.test/tools/github/token")
      const pr = await p.handler(
        new Request("https://host.test/.well-known/oauth-protected-resource/tools/github/mcp"),
      )
      expect(((await pr.json()) as Record<string, unknown>)["resource"]).toBe(
        "https://host.test/tools/github/mcp",
      )
    } finally {
      await p.dispose()
    }
  })

  it("register - hostile metadata is refused with the RFC 7591 code and nothing is stored", async () => {
    const before = await h.keys("client:")
    const cases: Array<[unknown, string]> = [
      [
        { redirect_uris: Array.from({ length: 50 }, (_, i) => `https://a.test/${i}`) },
        "invalid_redirect_uri",
      ],
      [{ redirect_uris: ["not a url"] }, "invalid_redirect_uri"],
      [{ redirect_uris: ["javascript:alert(1)"] }, "invalid_redirect_uri"],
      [{ redirect_uris: ["https://a.test/cb"], grant_types: ["password"] }, "invalid_client_metadata"],
      [{ redirect_uris: ["https://a.test/cb"], client_name: "x".repeat(10_000) }, "invalid_client_metadata"],
      [[1, 2, 3], "invalid_client_metadata"],
    ]
    for (const [body, error] of cases) {
      const res = await register(h.handler, h.issuer, body)
      expect(res.status).toBe(400)
      const json = (await res.json()) as { error: string; error_description: string }
      expect(json.error).toBe(error)
      expect(json.error_description.length).toBeLessThan(400)
    }
    expect(await h.keys("client:")).toEqual(before)
  })

  it("register - a string with a lone UTF-16 surrogate is invalid_client_metadata, nothing stored", async () => {
    // JSON's `\uD800` escapes are the one way request input carries a lone surrogate: query and
    // form values are percent-decoded as UTF-8, where one becomes U+FFFD.
    expect(
      Store.isWellFormed(new URLSearchParams("client_id=%ED%A0%80&state=%ED%BF%BF").get("client_id")!),
    ).toBe(true)
    const before = await h.keys("client:")
    const cb = "https://a.test/cb"
    for (const body of [
      { redirect_uris: [cb], client_name: "Acme \uD800" },
      { redirect_uris: [cb], client_name: "Acme \uDFFF" },
      { redirect_uris: [`${cb}\uDFFF`] },
      { redirect_uris: [cb], ["x_\uD800"]: "member name" },
    ]) {
      const res = await register(h.handler, h.issuer, body)
      expect(res.status).toBe(400)
      expect(await res.json()).toEqual({
        error: "invalid_client_metadata",
        error_description:
          "the body holds a string with a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape not in a pair)",
      })
    }
    expect(await h.keys("client:")).toEqual(before)
    const paired = await register(h.handler, h.issuer, {
      redirect_uris: [cb],
      client_name: "Acme \uD83D\uDD11",
    })
    expect(paired.status).toBe(201)
  })

  it("register - malformed JSON, wrong content type, oversized body", async () => {
    const bad = await h.handler(
      new Request(`${h.issuer}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{",
      }),
    )
    expect(await bad.json()).toMatchObject({ error: "invalid_client_metadata" })
    const wrongType = await h.handler(new Request(`${h.issuer}/register`, { method: "POST", body: "{}" }))
    expect(wrongType.status).toBe(400)
    const huge = await h.handler(
      new Request(`${h.issuer}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: ["https://a.test/cb"], pad: "x".repeat(100_000) }),
      }),
    )
    expect(huge.status).toBe(400)
    expect(await huge.json()).toMatchObject({
      error: "invalid_request",
      error_description: "the request body is too large",
    })
  })

  it("authorize - an unknown client gets an error page, never a redirect", async () => {
    const res = await h.handler(
      new Request(
        `${h.issuer}/authorize?client_id=nope&redirect_uri=${encodeURIComponent("https://evil.test/cb")}`,
      ),
    )
    expect(res.status).toBe(400)
    expect(res.headers.get("location")).toBeNull()
    expect(res.headers.get("x-frame-options")).toBe("DENY")
    expect(await res.text()).toContain("invalid_request")
  })

  it("authorize - a repeated parameter is invalid_request", async () => {
    const res = await h.handler(new Request(`${h.issuer}/authorize?client_id=a&client_id=b`))
    expect(res.status).toBe(400)
    expect(await res.text()).toContain("repeated")
  })

  it("token - client authentication failures are 401 invalid_client, Basic gets a Basic challenge", async () => {
    const form = (body: string, headers: Record<string, string> = {}) =>
      h.handler(
        new Request(`${h.issuer}/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
          body,
        }),
      )
    const none = await form("grant_type=authorization_code&code=x")
    expect(none.status).toBe(401)
    expect(await none.json()).toMatchObject({ error: "invalid_client" })
    const basic = await form("grant_type=authorization_code&code=x", {
      authorization: `Basic ${btoa("who:wrong")}`,
    })
    expect(basic.status).toBe(401)
    expect(basic.headers.get("www-authenticate")).toContain("Basic")
    const unsupported = await form("grant_type=password&username=a")
    expect(unsupported.status).toBe(400)
    expect(await unsupported.json()).toMatchObject({ error: "unsupported_grant_type" })
    expect(unsupported.headers.get("cache-control")).toBe("no-store")
  })

  it("wrong method is 405 with Allow; unknown path is 404", async () => {
    const get = await h.handler(new Request(`${h.issuer}/token`))
    expect(get.status).toBe(405)
    expect(get.headers.get("allow")).toBe("POST")
    expect((await h.handler(new Request(`${h.issuer}/nope`))).status).toBe(404)
  })

  it("bearer - no token, garbage, oversized: 401 with the right challenge", async () => {
    const none = await h.handler(new Request(`${h.issuer}/mcp`, { method: "POST" }))
    expect(none.status).toBe(401)
    expect(none.headers.get("www-authenticate")).toBe(
      'Bearer resource_metadata="https://proxy.test/.well-known/oauth-protected-resource/mcp"',
    )
    const garbage = await h.handler(
      new Request(`${h.issuer}/mcp`, { headers: { authorization: "Bearer abc.def.ghi" } }),
    )
    expect(garbage.status).toBe(401)
    expect(garbage.headers.get("www-authenticate")).toContain('error="invalid_token"')
    const big = await h.handler(
      new Request(`${h.issuer}/mcp`, { headers: { authorization: `Bearer ${"a".repeat(20_000)}` } }),
    )
    expect(big.status).toBe(401)
    expect(await big.json()).toMatchObject({
      error: "invalid_token",
      error_description: "The access token is too large",
    })
  })

  it("store outage - 503 temporarily_unavailable with generic text (fail closed)", async () => {
    const broken = Store.layerTest(() => ({
      get: () =>
        Effect.fail(new OAuthError.StoreError({ operation: "get", description: "store get failed: Error" })),
      set: () =>
        Effect.fail(new OAuthError.StoreError({ operation: "set", description: "store set failed: Error" })),
    }))
    const p = await setup({}, broken)
    try {
      const res = await register(p.handler, p.issuer, {
        redirect_uris: ["https://a.test/cb"],
        token_endpoint_auth_method: "none",
      })
      expect(res.status).toBe(503)
      expect(res.headers.get("retry-after")).toBe("5")
      const body = await res.text()
      expect(body).toContain("temporarily_unavailable")
      expect(body).not.toContain("store set failed")
      const page = await p.handler(new Request(`${p.issuer}/authorize?client_id=x`))
      expect(page.status).toBe(503)
    } finally {
      await p.dispose()
    }
  })
})

/**
 * The proxy's routes on Express: which paths the router answers, what it leaves to the app, and
 * bodies both streamed and already consumed by an Express body parser. The proxy runs over core's
 * test layers (no IdP needed for these routes).
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Effect, ManagedRuntime } from "effect"
import express from "express"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { McpSdkProxy, McpSdkRouter } from "../src/index.ts"

const registration = {
  client_name: "router test",
  redirect_uris: ["http://127.0.0.1:9/callback"],
  token_endpoint_auth_method: "none",
}

describe("McpSdkRouter", () => {
  let server: Server
  let url: string
  let dispose: () => Promise<void>

  beforeAll(async () => {
    let app: express.Express | undefined
    server = createServer((req, res) => (app === undefined ? res.writeHead(503).end() : app(req, res)))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const upstream = await Effect.runPromise(TestUpstream.make())
    const runtime = ManagedRuntime.make(
      TestProxy.layerFull(upstream, TestProxy.config(upstream, { issuer: url, resource: `${url}/mcp` })),
    )
    dispose = () => runtime.dispose()
    const proxy = await runtime.runPromise(McpSdkProxy.make())
    app = express()
    // Under /parsed the body parsers run first, as in apps that install them globally.
    app.use("/parsed", express.json(), express.urlencoded({ extended: false }), (req, res, next) => {
      // The proxy routes by absolute path; strip the test prefix so /parsed/token reaches /token.
      req.originalUrl = req.originalUrl.replace(/^\/parsed/, "")
      proxy.router(req, res, next)
    })
    app.use(proxy.router)
    app.all("/{*rest}", (req, res) => {
      res.status(299).json({ app: req.path })
    })
  }, 30_000)
  afterAll(async () => {
    await new Promise<void>((resolve) => {
      server?.close(() => resolve())
      server?.closeAllConnections()
    })
    await dispose?.()
  })

  it("paths - the authorization server's table, below the issuer and path-inserted", () => {
    const table = McpSdkRouter.paths(
      { issuer: "https://as.example/tenant", resource: "https://as.example/mcp", callback_path: "/cb" },
      { jwks: { keys: [] } },
    )
    expect([...table].sort()).toEqual(
      [
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/openid-configuration",
        "/.well-known/oauth-protected-resource/mcp",
        "/tenant/register",
        "/tenant/authorize",
        "/tenant/consent",
        "/tenant/cb",
        "/tenant/token",
        "/tenant/revoke",
        "/tenant/jwks",
      ].sort(),
    )
    expect(
      McpSdkRouter.paths({
        issuer: "https://as.example",
        resource: "https://as.example/mcp",
        callback_path: "/cb",
      }).has("/jwks"),
    ).toBe(false)
  })

  it("serves the metadata documents with the proxy's issuer and resource", async () => {
    const as = await fetch(`${url}/.well-known/oauth-authorization-server`)
    expect(as.status).toBe(200)
    const metadata = (await as.json()) as { issuer: string; registration_endpoint: string }
    expect(metadata.issuer).toBe(url)
    expect(metadata.registration_endpoint).toBe(`${url}/register`)
    const pr = await fetch(`${url}/.well-known/oauth-protected-resource/mcp`)
    expect(((await pr.json()) as { resource: string }).resource).toBe(`${url}/mcp`)
  })

  it("leaves every other path, the MCP endpoint included, to the app", async () => {
    for (const path of ["/mcp", "/hello", "/.well-known/other"]) {
      const res = await fetch(`${url}${path}`, { method: "POST", body: "{}" })
      expect(res.status).toBe(299)
      expect(await res.json()).toEqual({ app: path })
    }
  })

  it("streams a request body to the proxy (DCR → 201)", async () => {
    const res = await fetch(`${url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(registration),
    })
    expect(res.status).toBe(201)
    expect(((await res.json()) as { client_name: string }).client_name).toBe("router test")
  })

  it("re-encodes a body a JSON parser already consumed", async () => {
    const res = await fetch(`${url}/parsed/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(registration),
    })
    expect(res.status).toBe(201)
    expect(((await res.json()) as { redirect_uris: Array<string> }).redirect_uris).toEqual(
      registration.redirect_uris,
    )
  })

  it("re-encodes a form a urlencoded parser already consumed", async () => {
    const res = await fetch(`${url}/parsed/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", client_id: "nobody" }).toString(),
    })
    expect(res.status).toBe(400)
    // The proxy read the grant type, so the form arrived intact.
    expect(((await res.json()) as { error: string }).error).toBe("unsupported_grant_type")
  })

  it("answers a wrong method on a proxy path itself (405 with allow)", async () => {
    const res = await fetch(`${url}/token`)
    expect(res.status).toBe(405)
    expect(res.headers.get("allow")).toBe("POST")
  })
})

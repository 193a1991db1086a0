/**
 * Client ID Metadata Documents end to end: the real MCP SDK client configured with
 * `clientMetadataUrl` signs in through the proxy with its document URL as `client_id` — no DCR
 * call — while the proxy fetches the document from a local https server (development option on,
 * the server's certificate trusted). The switches and the SSRF default are checked against the
 * same document server's request count.
 */
import { ClientMetadataDocumentServer, HeadlessBrowser, McpClient } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Harness from "../src/Harness.ts"

const interact = HeadlessBrowser.firstOf(
  HeadlessBrowser.pressButton("decision", "approve"),
  HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
)
const redirectUrl = "http://127.0.0.1:8976/callback"

const startDocs = () =>
  ClientMetadataDocumentServer.startDocumentServer({
    document: (url) => ({
      client_id: url,
      client_name: "CIMD test client",
      redirect_uris: [redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    }),
  })

const authorizeUrl = (proxyUrl: string, clientId: string) =>
  `${proxyUrl}/authorize?${new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUrl,
    response_type: "code",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
    state: "s1",
  })}`

describe("MCP SDK client with clientMetadataUrl (CIMD)", () => {
  let docs: ClientMetadataDocumentServer.RunningDocumentServer
  let h: Harness.Harness
  beforeAll(async () => {
    docs = await startDocs()
    h = await Harness.start({
      requiredScopes: ["mcp:read"],
      config: { client_id_metadata_documents: { allow_http_loopback: true } },
      clientMetadata: { ca: docs.ca },
    })
  }, 30_000)
  afterAll(async () => {
    await h?.close()
    await docs?.close()
  })

  it("discovery → CIMD (no /register) → consent → login → token → tool call as the document URL", async () => {
    const meta = (await (
      await fetch(`${h.proxyUrl}/.well-known/oauth-authorization-server`)
    ).json()) as Record<string, unknown>
    expect(meta["client_id_metadata_document_supported"]).toBe(true)
    const { client, provider } = await McpClient.connectWithOAuth(h.resourceUrl, {
      interact,
      scope: "openid email offline_access mcp:read",
      clientMetadataUrl: docs.url,
      redirectUrl,
    })
    expect(provider.registrationRequests()).toEqual([])
    expect(
      provider.transcript.some((t) => t.method === "POST" && new URL(t.url).pathname === "/register"),
    ).toBe(false)
    expect(provider.clientInformation()?.client_id).toBe(docs.url)
    expect(provider.authorizationUrls[0]?.searchParams.get("client_id")).toBe(docs.url)
    expect(docs.requests).toEqual(["/oauth/client.json"])
    const result = await client.callTool({ name: "whoami", arguments: {} })
    const me = result.structuredContent as { user: string; client_id: string }
    expect(me.user).toBe("ada")
    expect(me.client_id).toBe(docs.url)
    expect(provider.tokens()?.refresh_token).toBeDefined()
    await client.close()
  }, 60_000)
})

describe("CIMD switched off or without the development option", () => {
  it("CIMD off: not advertised, the SDK falls back to DCR, the document is never fetched", async () => {
    const docs = await startDocs()
    const h = await Harness.start({
      config: { client_id_metadata_documents: { enabled: false, allow_http_loopback: true } },
      clientMetadata: { ca: docs.ca },
    })
    try {
      const { client, provider } = await McpClient.connectWithOAuth(h.resourceUrl, {
        interact,
        clientMetadataUrl: docs.url,
        redirectUrl,
      })
      expect(provider.registrationRequests().length).toBe(1)
      expect(provider.clientInformation()?.client_id).not.toBe(docs.url)
      const direct = await fetch(authorizeUrl(h.proxyUrl, docs.url), { redirect: "manual" })
      expect(direct.status).toBe(400)
      expect(docs.requests).toEqual([])
      await client.close()
    } finally {
      await h.close()
      await docs.close()
    }
  }, 60_000)

  it("development option off (the default): a document on 127.0.0.1 is refused before any request", async () => {
    const docs = await startDocs()
    const h = await Harness.start({ clientMetadata: { ca: docs.ca } })
    try {
      const res = await fetch(authorizeUrl(h.proxyUrl, docs.url), { redirect: "manual" })
      expect(res.status).toBe(400)
      expect(res.headers.get("location")).toBeNull()
      expect(await res.text()).toContain("could not be fetched (address)")
      expect(docs.requests).toEqual([])
    } finally {
      await h.close()
      await docs.close()
    }
  }, 30_000)
})

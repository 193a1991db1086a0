/**
 * Test support: an Express app as an MCP SDK server author would write it — the proxy's routes at
 * the root, `requireBearerAuth` with the proxy's verifier in front of a stateless Streamable HTTP
 * `McpServer` whose `whoami` tool returns `req.auth` — with the proxy over a real OIDC provider.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { Store } from "@oidc-proxy/core"
import { ProxyLayer } from "@oidc-proxy/node"
import { LocalIdp } from "@oidc-proxy/testbed"
import { type Layer, Redacted } from "effect"
import express from "express"
import { z } from "zod"
import { McpSdkProxy } from "../../src/index.ts"

/** What `whoami` returns: the SDK's `AuthInfo` as the tool handler received it. */
export interface WhoAmI {
  readonly subject: string
  /** `sub` of the verified upstream claims (`AuthInfo.extra.claims`). */
  readonly claims_sub: string | null
  readonly scopes: string
  readonly client_id: string
  readonly resource: string | null
  readonly expires_at: number
}

const whoami = (auth: AuthInfo | undefined): WhoAmI => {
  if (auth === undefined) throw new Error("no authInfo: requireBearerAuth did not run")
  const extra = auth.extra as { subject: string; claims: Record<string, unknown> }
  return {
    subject: extra.subject,
    claims_sub: typeof extra.claims["sub"] === "string" ? extra.claims["sub"] : null,
    scopes: auth.scopes.join(" "),
    client_id: auth.clientId,
    resource: auth.resource?.href ?? null,
    expires_at: auth.expiresAt ?? 0,
  }
}

const mcpServer = (): McpServer => {
  const server = new McpServer({ name: "mcp-sdk-express-test", version: "0.1.0" })
  server.registerTool(
    "whoami",
    {
      description: "Returns the caller as requireBearerAuth verified it (req.auth).",
      outputSchema: {
        subject: z.string(),
        claims_sub: z.string().nullable(),
        scopes: z.string(),
        client_id: z.string(),
        resource: z.string().nullable(),
        expires_at: z.number(),
      },
    },
    (extra) => {
      const me = whoami(extra.authInfo)
      return { content: [{ type: "text", text: JSON.stringify(me) }], structuredContent: { ...me } }
    },
  )
  return server
}

/** The app: the proxy's routes first, then the MCP endpoint behind the SDK's bearer middleware. */
export const app = (proxy: McpSdkProxy.McpSdkProxy, requiredScopes: Array<string>): express.Express => {
  const app = express()
  app.use(proxy.router)
  const bearer = requireBearerAuth({
    verifier: proxy.verifier,
    requiredScopes,
    resourceMetadataUrl: proxy.resourceMetadataUrl,
  })
  app.post("/mcp", bearer, express.json(), async (req, res) => {
    // Stateless Streamable HTTP: a fresh server and transport per request.
    const server = mcpServer()
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
    res.on("close", () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  app.all("/mcp", (_req, res) => {
    res.status(405).set("allow", "POST").end()
  })
  return app
}

export interface Running {
  readonly idp: LocalIdp.LocalIdp
  readonly url: string
  readonly resourceUrl: string
  readonly proxy: McpSdkProxy.McpSdkProxy
  readonly close: () => Promise<void>
}

export interface StartOptions {
  readonly store?: Layer.Layer<Store.Store, unknown>
  readonly requiredScopes?: Array<string>
}

/** The IdP, then the HTTP server (its port names the issuer), then the proxy and the app. */
export const start = async (options: StartOptions = {}): Promise<Running> => {
  const idp = await LocalIdp.startLocalIdp({
    quiet: true,
    client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
  })
  let handle: express.Express | undefined
  const server: Server = createServer((req, res) => {
    if (handle === undefined) res.writeHead(503).end()
    else handle(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const client = idp.clients[0]!
  const requiredScopes = options.requiredScopes ?? ["mcp:read"]
  const proxy = await McpSdkProxy.fromLayer(
    ProxyLayer.layer({
      config: {
        issuer: url,
        resource: `${url}/mcp`,
        verification_mode: "access_token",
        required_scopes: requiredScopes,
        consent: "on",
        upstream: {
          issuer: idp.issuer,
          client_id: client.client_id,
          audience: idp.audience,
          scopes: ["openid", "email", "offline_access"],
          // OpenID Connect Core §11: the IdP grants offline_access only with prompt=consent.
          extra_authorize_params: { prompt: "consent" },
        },
      },
      secrets: [{ kid: "k1", secret: Redacted.make("mcp-sdk-test-secret-0123456789-abcdefgh") }],
      store: options.store ?? Store.layerMemory,
      upstream: {
        client_secret: Redacted.make(client.client_secret),
        token_endpoint_auth_method: client.token_endpoint_auth_method,
      },
    }),
  )
  handle = app(proxy, requiredScopes)
  return {
    idp,
    url,
    resourceUrl: `${url}/mcp`,
    proxy,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await proxy.dispose()
      await idp.close()
    },
  }
}

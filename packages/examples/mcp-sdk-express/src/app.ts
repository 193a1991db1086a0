/**
 * An MCP server on the official SDK and Express with oidc-proxy in-process: the proxy's routes at
 * the root (discovery, DCR, authorize, consent, callback, token, revoke) and the SDK's own
 * `requireBearerAuth` in front of the MCP endpoint, checking tokens through the proxy.
 *
 * Example program. The `whoami` tool returns what `requireBearerAuth` put on `req.auth`: the user
 * (`extra.subject`), the client and the scopes the proxy resolved.
 *
 * @since 0.1.0
 */
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import type { McpSdkProxy, McpSdkVerifier } from "@oidc-proxy/mcp-sdk"
import express from "express"
import { z } from "zod"

/**
 * What `whoami` returns.
 *
 * @category models
 * @since 0.1.0
 */
export interface WhoAmI {
  readonly subject: string
  readonly client_id: string
  readonly scopes: string
  readonly resource: string | null
}

const whoami = (auth: AuthInfo | undefined): WhoAmI => {
  // requireBearerAuth ran before the transport, so every tool call carries authInfo.
  if (auth === undefined) throw new Error("unauthenticated call")
  const extra = auth.extra as unknown as McpSdkVerifier.Extra
  return {
    subject: extra.subject,
    client_id: auth.clientId,
    scopes: auth.scopes.join(" "),
    resource: auth.resource?.href ?? null,
  }
}

const mcpServer = (): McpServer => {
  const server = new McpServer({ name: "mcp-sdk-express-example", version: "0.1.0" })
  server.registerTool(
    "whoami",
    {
      description: "Who is calling: the user, client and scopes oidc-proxy verified.",
      outputSchema: {
        subject: z.string(),
        client_id: z.string(),
        scopes: z.string(),
        resource: z.string().nullable(),
      },
    },
    (extra) => {
      const me = whoami(extra.authInfo)
      return { content: [{ type: "text", text: JSON.stringify(me) }], structuredContent: { ...me } }
    },
  )
  return server
}

/**
 * The Express app: `proxy.router` first (before any body parser), then `POST /mcp` behind
 * `requireBearerAuth` with the proxy's verifier, the configuration's required scopes and its
 * RFC 9728 metadata URL.
 *
 * @category constructors
 * @since 0.1.0
 */
export const createApp = (proxy: McpSdkProxy.McpSdkProxy): express.Express => {
  const app = express()
  app.use(proxy.router)
  const bearer = requireBearerAuth({
    verifier: proxy.verifier,
    requiredScopes: proxy.requiredScopes,
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

/**
 * Runs the Express MCP server of `app.ts` with oidc-proxy in-process against a local
 * oidc-provider, and signs in with the real MCP SDK client.
 *
 * Example program. Run: `node packages/examples/mcp-sdk-express/src/main.ts [--once]`; with
 * `--once` it exits after the tool call, without it keeps serving until Ctrl-C. For a real IdP,
 * replace the local one with its issuer and your registered client's credentials.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { Store } from "@oidc-proxy/core"
import { McpSdkProxy } from "@oidc-proxy/mcp-sdk"
import { ProxyLayer } from "@oidc-proxy/node"
import { HeadlessBrowser, LocalIdp, McpClient } from "@oidc-proxy/testbed"
import { Redacted } from "effect"
import type express from "express"
import { createApp, type WhoAmI } from "./app.ts"

/**
 * The program; returns what the tool saw.
 *
 * @category constructors
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>, log = console.log): Promise<WhoAmI> => {
  const idp = await LocalIdp.startLocalIdp({
    quiet: true,
    client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
  })
  // The proxy's issuer names the port, so listen first and install the app once built.
  let app: express.Express | undefined
  const server = createServer((req, res) => (app === undefined ? res.writeHead(503).end() : app(req, res)))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const client = idp.clients[0]!
  const proxy = await McpSdkProxy.fromLayer(
    ProxyLayer.layer({
      config: {
        issuer: url,
        resource: `${url}/mcp`,
        required_scopes: ["mcp:read"],
        upstream: {
          issuer: idp.issuer,
          client_id: client.client_id,
          audience: idp.audience,
          scopes: ["openid", "email", "offline_access"],
          // OpenID Connect Core §11: the IdP grants offline_access only with prompt=consent.
          extra_authorize_params: { prompt: "consent" },
        },
      },
      secrets: [{ kid: "k1", secret: Redacted.make("mcp-sdk-express-example-secret-0123456789") }],
      store: Store.layerMemory,
      upstream: {
        client_secret: Redacted.make(client.client_secret),
        token_endpoint_auth_method: client.token_endpoint_auth_method,
      },
    }),
  )
  app = createApp(proxy)
  const close = async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await proxy.dispose()
    await idp.close()
  }
  try {
    log(`IdP: ${idp.issuer}`)
    log(`Express MCP server with oidc-proxy: ${url}`)
    const { client: mcpClient } = await McpClient.connectWithOAuth(`${url}/mcp`, {
      scope: "openid email offline_access mcp:read",
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
    })
    const result = await mcpClient.callTool({ name: "whoami", arguments: {} })
    await mcpClient.close()
    const me = result.structuredContent as unknown as WhoAmI
    log(`req.auth: subject ${me.subject}, client ${me.client_id}`)
    log(`scopes: ${me.scopes}`)
    if (!argv.includes("--once")) {
      log(`MCP endpoint: ${url}/mcp  (Ctrl-C to stop)`)
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve)
        process.once("SIGTERM", resolve)
      })
    }
    await close()
    return me
  } catch (error) {
    await close()
    throw error
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = 1
  })
}

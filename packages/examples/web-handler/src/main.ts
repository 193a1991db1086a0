/**
 * Runs `worker.ts` — the proxy as a Web `fetch` module — on Node for a demo: a local oidc-provider
 * as the upstream IdP, a small MCP server behind the proxy, the module served with `node:http`
 * (through `NodeServer.listen`, the only Node-specific part), and the real MCP SDK client signing
 * in through it.
 *
 * Example program. Run: `node packages/examples/web-handler/src/main.ts [--once]`; with `--once` it
 * exits after the tool call, without it keeps serving until Ctrl-C.
 *
 * @since 0.1.0
 */
import { fileURLToPath } from "node:url"
import { NodeServer } from "@oidc-proxy/node"
import { HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import worker, { type Env } from "./worker.ts"

/**
 * The program: start everything, sign in once and call `whoami`; with `--once` stop, else keep
 * serving until SIGINT/SIGTERM. Returns what the MCP server saw.
 *
 * @category constructors
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>, log = console.log): Promise<McpServer.WhoAmI> => {
  const idp = await LocalIdp.startLocalIdp({
    quiet: true,
    client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
  })
  const mcp = await McpServer.startMcpServer()
  let env: Env | undefined
  // Serve the module exactly as a Workers/Bun/Deno runtime would: `fetch(request, env)`.
  const listening = await NodeServer.listen(
    (request) =>
      env === undefined ? Promise.resolve(new Response(null, { status: 503 })) : worker.fetch(request, env),
    { host: "127.0.0.1", port: 0 },
  )
  const client = idp.clients[0]!
  env = {
    ISSUER: listening.url,
    UPSTREAM_ISSUER: idp.issuer,
    UPSTREAM_CLIENT_ID: client.client_id,
    UPSTREAM_CLIENT_SECRET: client.client_secret,
    UPSTREAM_AUDIENCE: idp.audience,
    // OpenID Connect Core §11: the IdP grants offline_access only with prompt=consent.
    UPSTREAM_AUTHORIZE_PARAMS: "prompt=consent",
    PROXY_SECRET: "web-handler-example-secret-0123456789abcdef",
    MCP_URL: mcp.url,
    REQUIRED_SCOPES: "mcp:read",
  }
  const close = async () => {
    await listening.close()
    await mcp.close()
    await idp.close()
  }
  try {
    log(`IdP: ${idp.issuer}`)
    log(`proxy (Web fetch module): ${listening.url}`)
    const { client: mcpClient } = await McpClient.connectWithOAuth(`${listening.url}/mcp`, {
      scope: "openid email offline_access mcp:read",
      interact: HeadlessBrowser.firstOf(
        HeadlessBrowser.pressButton("decision", "approve"),
        HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
      ),
    })
    const result = await mcpClient.callTool({ name: "whoami", arguments: {} })
    await mcpClient.close()
    const me = result.structuredContent as unknown as McpServer.WhoAmI
    log(`MCP client signed in as: ${me.user}`)
    log(`scopes: ${me.scopes}`)
    if (argv.includes("--once")) {
      await close()
      return me
    }
    log(`MCP endpoint: ${listening.url}/mcp  (Ctrl-C to stop)`)
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve)
      process.once("SIGTERM", resolve)
    })
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

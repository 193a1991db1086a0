/**
 * The SAP Cloud Identity Services scenario on its own: the upstream IdP answers its token endpoint
 * with one JWT as both `access_token` and `id_token`, the proxy verifies the id_token
 * (`verification_mode: "id_token"`) and requires `openid offline_access`, and the real MCP SDK
 * client signs in and calls a tool that reports the scopes the proxy resolved.
 *
 * Example program. Those scopes come from what the IdP granted at authorization time, never from
 * comparing the two tokens — FastMCP's issue #3461 (no scopes, every request 403) cannot happen.
 *
 * Run: `node packages/examples/same-jwt-idp/src/main.ts [--once]`. With `--once` it exits after the
 * tool call; without, it keeps the IdP, proxy and MCP server running for another client.
 *
 * @since 0.1.0
 */
import { fileURLToPath } from "node:url"
import { Store } from "@oidc-proxy/core"
import { WebHandler } from "@oidc-proxy/http"
import { NodeServer, ProxyLayer, ReverseProxy } from "@oidc-proxy/node"
import { HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import { Redacted } from "effect"

/**
 * The running scenario.
 *
 * @category models
 * @since 0.1.0
 */
export interface Scenario {
  readonly idpIssuer: string
  readonly proxyUrl: string
  readonly resourceUrl: string
  readonly close: () => Promise<void>
}

/**
 * Starts the IdP (same-JWT mode), the MCP server and the proxy in front of it, on 127.0.0.1.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = async (): Promise<Scenario> => {
  const idp = await LocalIdp.startLocalIdp({
    sameJwt: true,
    quiet: true,
    client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
  })
  const mcp = await McpServer.startMcpServer()
  // The proxy's issuer names its port, so listen first and install the handler once built.
  let handler: WebHandler.Handler = async () => new Response("starting", { status: 503 })
  const listening = await NodeServer.listen((request) => handler(request), { host: "127.0.0.1", port: 0 })
  const client = idp.clients[0]!
  const proxy = await WebHandler.fromLayer(
    ProxyLayer.layer({
      config: {
        issuer: listening.url,
        resource: `${listening.url}/mcp`,
        // Verify the id_token; its scopes are the set recorded when the IdP granted them.
        verification_mode: "id_token",
        required_scopes: ["openid", "offline_access"],
        upstream: {
          issuer: idp.issuer,
          client_id: client.client_id,
          scopes: ["openid"],
          // OpenID Connect Core §11: an IdP grants offline_access only with prompt=consent.
          extra_authorize_params: { prompt: "consent" },
        },
      },
      secrets: [{ kid: "k1", secret: Redacted.make("same-jwt-idp-example-secret-0123456789abc") }],
      store: Store.layerMemory,
      upstream: {
        client_secret: Redacted.make(client.client_secret),
        token_endpoint_auth_method: client.token_endpoint_auth_method,
      },
    }),
    { onAuthorized: ReverseProxy.make({ target: new URL(mcp.url), resourcePath: "/mcp" }) },
  )
  handler = proxy.handler
  return {
    idpIssuer: idp.issuer,
    proxyUrl: listening.url,
    resourceUrl: `${listening.url}/mcp`,
    close: async () => {
      await listening.close()
      await proxy.dispose()
      await mcp.close()
      await idp.close()
    },
  }
}

/**
 * Signs in with the real MCP SDK client (DCR, the proxy's consent page, the IdP's login as `ada`)
 * and calls `whoami`, which reports the identity the proxy forwarded.
 *
 * @category constructors
 * @since 0.1.0
 */
export const signIn = async (
  resourceUrl: string,
): Promise<{ readonly user: string | null; readonly scopes: string | null }> => {
  const { client } = await McpClient.connectWithOAuth(resourceUrl, {
    scope: "openid offline_access",
    interact: HeadlessBrowser.firstOf(
      HeadlessBrowser.pressButton("decision", "approve"),
      HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
    ),
  })
  try {
    const result = await client.callTool({ name: "whoami", arguments: {} })
    const me = result.structuredContent as unknown as McpServer.WhoAmI
    return { user: me.user, scopes: me.scopes }
  } finally {
    await client.close()
  }
}

/**
 * The program: start, sign in once, print the scopes; with `--once` stop, else keep serving
 * until SIGINT/SIGTERM.
 *
 * @category constructors
 * @since 0.1.0
 */
export const main = async (argv: ReadonlyArray<string>, log = console.log): Promise<void> => {
  const scenario = await start()
  try {
    log(`IdP (same JWT as access and id token): ${scenario.idpIssuer}`)
    log(`proxy: ${scenario.proxyUrl}  (verification_mode id_token, required scopes: openid offline_access)`)
    const me = await signIn(scenario.resourceUrl)
    log(`MCP client signed in as: ${me.user}`)
    log(`scopes: ${me.scopes}`)
  } catch (error) {
    await scenario.close()
    throw error
  }
  if (argv.includes("--once")) {
    await scenario.close()
    return
  }
  log(`MCP endpoint: ${scenario.resourceUrl}  (Ctrl-C to stop)`)
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve)
    process.once("SIGTERM", resolve)
  })
  await scenario.close()
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error)
    process.exitCode = 1
  })
}

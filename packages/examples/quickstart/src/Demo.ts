/**
 * The quickstart demo: a local IdP (oidc-provider with a dev login), the `oidc-proxy` gateway on
 * the SQLite store, and a small MCP server; the real MCP SDK client then signs in headlessly and
 * the demo prints each step. A second run shows the SAP-style IdP (one JWT as access and id
 * token) in id_token mode, scopes intact.
 *
 * Example program.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Gateway, GatewayConfig } from "@oidc-proxy/node"
import { HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import { Result } from "effect"

export type Print = (line: string) => void

export interface Running {
  readonly gatewayUrl: string
  readonly resourceUrl: string
  readonly idpIssuer: string
  readonly stop: () => Promise<void>
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const short = (token: string | undefined) =>
  token === undefined ? "(none)" : `${token.slice(0, 12)}… (${token.length} chars)`

/** Starts IdP + MCP server + gateway. `port` 0 picks a free port. */
export const startStack = async (options: {
  readonly port: number
  readonly sameJwt: boolean
  readonly dir: string
  readonly print: Print
}): Promise<Running> => {
  const idp = await LocalIdp.startLocalIdp({
    sameJwt: options.sameJwt,
    quiet: true,
    client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
  })
  const mcp = await McpServer.startMcpServer()
  const port = options.port === 0 ? await freePort() : options.port
  const client = idp.clients[0]!
  const env: Record<string, string> = {
    OIDC_PROXY_BASE_URL: `http://127.0.0.1:${port}`,
    OIDC_PROXY_TARGET: mcp.url,
    OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
    OIDC_PROXY_UPSTREAM_CLIENT_ID: client.client_id,
    OIDC_PROXY_UPSTREAM_CLIENT_SECRET: client.client_secret,
    OIDC_PROXY_UPSTREAM_SCOPES: options.sameJwt ? "openid" : "openid email",
    OIDC_PROXY_UPSTREAM_EXTRA_PARAMS: "prompt=consent",
    OIDC_PROXY_STORE: `sqlite:${join(options.dir, options.sameJwt ? "same-jwt.db" : "oidc-proxy.db")}`,
    OIDC_PROXY_SECRET: "demo-secret-demo-secret-demo-secret-0123",
    OIDC_PROXY_LOG_LEVEL: "warn",
    ...(options.sameJwt
      ? { OIDC_PROXY_VERIFY_ID_TOKEN: "true", OIDC_PROXY_REQUIRED_SCOPES: "openid offline_access" }
      : { OIDC_PROXY_UPSTREAM_AUDIENCE: idp.audience, OIDC_PROXY_REQUIRED_SCOPES: "mcp:read" }),
  }
  const config = GatewayConfig.decode(env)
  if (Result.isFailure(config)) throw config.failure
  const gateway = await Gateway.start(config.success)
  return {
    gatewayUrl: gateway.url,
    resourceUrl: `${gateway.url}/mcp`,
    idpIssuer: idp.issuer,
    stop: async () => {
      await gateway.shutdown()
      await mcp.close()
      await idp.close()
    },
  }
}

const interact = HeadlessBrowser.firstOf(
  HeadlessBrowser.pressButton("decision", "approve"),
  HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
)

const describeStep = (method: string, url: string, status: number): string => {
  const u = new URL(url)
  const p = u.pathname
  const what = p.startsWith("/.well-known/oauth-protected-resource")
    ? "discovery: protected-resource metadata (RFC 9728)"
    : p.startsWith("/.well-known/oauth-authorization-server") ||
        p.startsWith("/.well-known/openid-configuration")
      ? "discovery: authorization-server metadata (RFC 8414)"
      : p === "/register"
        ? "registration (RFC 7591 DCR)"
        : p === "/authorize"
          ? "authorize → the proxy's consent page"
          : p === "/consent"
            ? "consent approved → off to the IdP"
            : p === "/auth/callback"
              ? "upstream callback → client code"
              : p === "/token"
                ? "token exchange (PKCE S256)"
                : p === "/mcp"
                  ? "MCP request"
                  : p.startsWith("/interaction") || p.startsWith("/auth")
                    ? "upstream IdP login/consent"
                    : ""
  return `${method.padEnd(5)} ${status} ${u.origin}${p}${what === "" ? "" : `  — ${what}`}`
}

const callWhoami = async (client: Awaited<ReturnType<typeof McpClient.connectWithOAuth>>["client"]) => {
  const result = await client.callTool({ name: "whoami", arguments: {} })
  return result.structuredContent as {
    user: string | null
    email: string | null
    scopes: string | null
    client_id: string | null
  }
}

const form = (body: Record<string, string>): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: new URLSearchParams(body).toString(),
})

/** The main walkthrough against a running stack; returns what it observed. */
export const walkthrough = async (stack: Running, print: Print) => {
  print(`▶ MCP client connects to ${stack.resourceUrl} (401 → discovery → DCR → consent → IdP login → token)`)
  const { client, provider } = await McpClient.connectWithOAuth(stack.resourceUrl, {
    interact,
    scope: "openid email offline_access mcp:read",
    clientName: "oidc-proxy quickstart",
  })
  for (const step of provider.transcript) print(`   ${describeStep(step.method, step.url, step.status)}`)
  const tokens = provider.tokens()!
  print("")
  print(
    `▶ tokens: access ${short(tokens.access_token)}, refresh ${short(tokens.refresh_token)}, scope "${tokens.scope ?? ""}"`,
  )
  const me = await callWhoami(client)
  print(`▶ whoami (identity headers the MCP server received): ${JSON.stringify(me)}`)

  const clientId = provider.clientInformation()!.client_id
  const refreshed = await fetch(
    `${stack.gatewayUrl}/token`,
    form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: clientId }),
  )
  const pair = (await refreshed.json()) as { access_token: string; refresh_token: string }
  print(
    `▶ refresh: ${refreshed.status}, new access ${short(pair.access_token)}, refresh token rotated: ${pair.refresh_token !== tokens.refresh_token}`,
  )
  const revoked = await fetch(
    `${stack.gatewayUrl}/revoke`,
    form({ token: pair.refresh_token, client_id: clientId }),
  )
  print(`▶ revoke the refresh token (its whole family): ${revoked.status}`)
  const after = await fetch(stack.resourceUrl, {
    method: "POST",
    headers: {
      authorization: `Bearer ${pair.access_token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
  })
  print(
    `▶ MCP request with the revoked family's access token: ${after.status} ${after.headers.get("www-authenticate") ?? ""}`,
  )
  await client.close()
  return {
    whoami: me,
    refreshStatus: refreshed.status,
    afterRevoke: after.status,
    steps: provider.transcript.length,
  }
}

/** The SAP-style case: one JWT as access and id token, no scope claim, verify_id_token on. */
export const sameJwtCase = async (stack: Running, print: Print) => {
  print(
    "▶ SAP-style IdP: the token endpoint returns the SAME JWT as access_token and id_token, no scope claim;",
  )
  print(
    '  the gateway runs with OIDC_PROXY_VERIFY_ID_TOKEN=true and OIDC_PROXY_REQUIRED_SCOPES="openid offline_access"',
  )
  const { client } = await McpClient.connectWithOAuth(stack.resourceUrl, {
    interact,
    scope: "openid offline_access",
  })
  const me = await callWhoami(client)
  print(
    `▶ whoami: user=${me.user} scopes="${me.scopes}"  (FastMCP's OIDCProxy answered 403 here — issue #3461)`,
  )
  await client.close()
  return me
}

/** Runs the whole demo; with `once` it stops after the transcript. */
export const run = async (options: {
  readonly once: boolean
  readonly port: number
  readonly print: Print
}) => {
  const { print } = options
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-demo-"))
  const stacks: Array<Running> = []
  try {
    print("oidc-proxy quickstart — a local IdP, the oidc-proxy gateway (SQLite store) and an MCP server\n")
    const main = await startStack({ port: options.port, sameJwt: false, dir, print })
    stacks.push(main)
    print(`IdP ${main.idpIssuer}   gateway ${main.gatewayUrl}   protected MCP endpoint ${main.resourceUrl}\n`)
    const result = await walkthrough(main, print)
    print("")
    const sap = await startStack({ port: 0, sameJwt: true, dir, print })
    stacks.push(sap)
    const sapResult = await sameJwtCase(sap, print)
    if (!options.once) {
      print(`
The servers keep running. Connect a real MCP client to ${main.resourceUrl}
(at the IdP's login page any user name and password work; approve on the consent page):

  MCP Inspector:   npx @modelcontextprotocol/inspector   → Transport "Streamable HTTP", URL ${main.resourceUrl}
  VS Code (.vscode/mcp.json):
    { "servers": { "oidc-proxy-demo": { "type": "http", "url": "${main.resourceUrl}" } } }
  Claude Desktop (claude_desktop_config.json):
    { "mcpServers": { "oidc-proxy-demo": { "command": "npx", "args": ["mcp-remote", "${main.resourceUrl}"] } } }

Press Ctrl-C to stop.`)
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve)
        process.once("SIGTERM", resolve)
      })
    }
    return { ...result, sameJwt: sapResult }
  } finally {
    for (const s of stacks.reverse()) await s.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

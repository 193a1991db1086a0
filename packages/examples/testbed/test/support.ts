/**
 * Test helpers: a direct authorization-code + PKCE flow as the proxy would run it against its upstream IdP
 * (confidential client, HeadlessBrowser as the user agent), and a stand-in bearer gateway.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { createRemoteJWKSet, jwtVerify } from "jose"
import { HeadlessBrowser, oidcProviderDevInteractions } from "../src/HeadlessBrowser.ts"
import { close, listen } from "../src/internal/net.ts"
import type { LocalIdp, LocalIdpClient } from "../src/LocalIdp.ts"

export interface TokenResponse {
  readonly access_token: string
  readonly id_token?: string
  readonly refresh_token?: string
  readonly token_type: string
  readonly expires_in: number
  readonly scope?: string
}

export const discovery = async (idp: LocalIdp): Promise<Record<string, unknown>> =>
  (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json() as Promise<Record<string, unknown>>

/** Client authentication for the token/revocation/introspection endpoints, per the client's method. */
export const clientAuth = (client: LocalIdpClient, body: URLSearchParams): RequestInit => {
  if (client.token_endpoint_auth_method === "client_secret_post") {
    body.set("client_id", client.client_id)
    body.set("client_secret", client.client_secret)
    return { method: "POST", body }
  }
  const basic = Buffer.from(
    `${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`,
  ).toString("base64")
  return { method: "POST", body, headers: { authorization: `Basic ${basic}` } }
}

export const post = async (url: string, client: LocalIdpClient, params: Record<string, string>) => {
  const response = await fetch(url, clientAuth(client, new URLSearchParams(params)))
  return {
    status: response.status,
    body: (await response.json().catch(() => ({}))) as Record<string, unknown>,
  }
}

/** Runs /auth → dev login → consent → redirect_uri → /token, returning the token response. */
export const codeFlow = async (
  idp: LocalIdp,
  options: {
    readonly scope: string
    readonly login?: string
    readonly browser?: HeadlessBrowser
    readonly redirectUri?: string
  },
): Promise<TokenResponse> => {
  const client = idp.clients[0]!
  const redirectUri = options.redirectUri ?? client.redirect_uris[0]!
  const meta = await discovery(idp)
  const verifier = randomBytes(32).toString("base64url")
  const state = randomBytes(16).toString("base64url")
  const authorize = new URL(meta["authorization_endpoint"] as string)
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: redirectUri,
    scope: options.scope,
    state,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString()
  const browser = options.browser ?? new HeadlessBrowser()
  const callback = await browser.drive(authorize, {
    stopAt: (url) => url.href.startsWith(redirectUri),
    onPage: oidcProviderDevInteractions({ login: options.login ?? "ada" }),
  })
  if (callback.searchParams.get("state") !== state) throw new Error("state mismatch")
  const token = await post(meta["token_endpoint"] as string, client, {
    grant_type: "authorization_code",
    code: callback.searchParams.get("code") ?? "",
    redirect_uri: redirectUri,
    code_verifier: verifier,
  })
  if (token.status !== 200)
    throw new Error(`token endpoint answered ${token.status} ${String(token.body["error"])}`)
  return token.body as unknown as TokenResponse
}

/**
 * A minimal bearer-checking gateway in front of the test MCP server, just enough to make the MCP SDK client
 * run its whole OAuth dance (RFC 9728 discovery → DCR → code + PKCE → retry). Not the project's gateway:
 * it verifies the JWT against the IdP's JWKS with `aud` = its resource, then forwards with x-auth-request-*.
 */
export const startBearerGateway = async (upstreamMcpUrl: string, authorizationServer: () => string) => {
  let origin = ""
  const resource = () => `${origin}/mcp`
  const metadataPath = "/.well-known/oauth-protected-resource/mcp"
  const server = createServer(async (req, res) => {
    if (req.url === metadataPath) {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(
        JSON.stringify({
          resource: resource(),
          authorization_servers: [authorizationServer()],
          scopes_supported: ["mcp:read"],
        }),
      )
      return
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1]
    const claims = await (token === undefined
      ? Promise.resolve(undefined)
      : jwtVerify(token, createRemoteJWKSet(new URL(`${authorizationServer()}/jwks`)), {
          issuer: authorizationServer(),
          audience: resource(),
        }).then(
          (r) => r.payload,
          () => undefined,
        ))
    if (claims === undefined) {
      res.writeHead(401, { "www-authenticate": `Bearer resource_metadata="${origin}${metadataPath}"` })
      res.end()
      return
    }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const upstream = await fetch(upstreamMcpUrl, {
      method: req.method ?? "GET",
      headers: {
        "content-type": req.headers["content-type"] ?? "application/json",
        accept: req.headers.accept ?? "*/*",
        ...(req.headers["mcp-protocol-version"] === undefined
          ? {}
          : { "mcp-protocol-version": String(req.headers["mcp-protocol-version"]) }),
        "x-auth-request-user": String(claims.sub),
        "x-auth-request-scopes": String(claims["scope"] ?? ""),
        "x-auth-request-client-id": String(claims["client_id"] ?? ""),
      },
      ...(req.method === "POST" ? { body: Buffer.concat(chunks) } : {}),
    })
    res.writeHead(upstream.status, {
      "content-type": upstream.headers.get("content-type") ?? "application/json",
    })
    res.end(Buffer.from(await upstream.arrayBuffer()))
  })
  const port = await listen(server, 0)
  origin = `http://127.0.0.1:${port}`
  return { url: resource(), resource: resource(), close: () => close(server) }
}

/**
 * The end-to-end harness: a real OIDC provider (oidc-provider), the proxy served over real HTTP
 * on 127.0.0.1, and an MCP server behind it — with a minimal identity-forwarding hop so the MCP
 * server sees who called.
 *
 * Example program (test support).
 */
import type { AccessToken } from "@oidc-proxy/core"
import { Store } from "@oidc-proxy/core"
import { WebHandler } from "@oidc-proxy/http"
import { NodeServer, ProxyLayer } from "@oidc-proxy/node"
import { LocalIdp, McpServer } from "@oidc-proxy/testbed"
import type { Layer } from "effect"
import { Redacted } from "effect"

export interface Harness {
  readonly idp: LocalIdp.LocalIdp
  readonly mcp: McpServer.RunningMcpServer
  readonly proxyUrl: string
  readonly resourceUrl: string
  readonly close: () => Promise<void>
}

export interface HarnessOptions {
  readonly sameJwt?: boolean
  readonly verifyIdToken?: boolean
  readonly requiredScopes?: ReadonlyArray<string>
  readonly store?: Layer.Layer<Store.Store, unknown>
  readonly config?: Record<string, unknown>
  /** Options of the proxy's Client ID Metadata Document fetcher (e.g. a test CA). */
  readonly clientMetadata?: ProxyLayer.Options["clientMetadata"]
  /** Scopes always requested upstream. Default `openid email offline_access`. */
  readonly upstreamScopes?: ReadonlyArray<string>
}

/** Forwards an authorized request to the MCP server with the caller's identity. */
const forward = (target: string) => async (request: Request, token: AccessToken.AccessToken) => {
  const headers = new Headers(request.headers)
  headers.delete("authorization")
  headers.delete("host")
  for (const name of [...headers.keys()]) if (name.startsWith("x-auth-request-")) headers.delete(name)
  headers.set("x-auth-request-user", token.subject)
  if (typeof token.claims.email === "string") headers.set("x-auth-request-email", token.claims.email)
  headers.set("x-auth-request-scopes", token.scopes.join(" "))
  headers.set("x-auth-request-client-id", token.client_id)
  const hasBody = request.method !== "GET" && request.method !== "HEAD"
  return fetch(target, {
    method: request.method,
    headers,
    ...(hasBody ? { body: await request.arrayBuffer() } : {}),
  })
}

export const start = async (options: HarnessOptions = {}): Promise<Harness> => {
  const idp = await LocalIdp.startLocalIdp({
    sameJwt: options.sameJwt ?? false,
    quiet: true,
    client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
  })
  const mcp = await McpServer.startMcpServer()
  let handler: WebHandler.Handler = async () => new Response("starting", { status: 503 })
  const listening = await NodeServer.listen((r) => handler(r), { host: "127.0.0.1", port: 0 })
  const proxyUrl = listening.url
  const client = idp.clients[0]!
  const built = await WebHandler.fromLayer(
    ProxyLayer.layer({
      config: {
        issuer: proxyUrl,
        resource: `${proxyUrl}/mcp`,
        verification_mode: options.verifyIdToken === true ? "id_token" : "access_token",
        required_scopes: options.requiredScopes ?? [],
        consent: "on",
        upstream: {
          issuer: idp.issuer,
          client_id: client.client_id,
          ...(options.verifyIdToken === true ? {} : { audience: idp.audience }),
          scopes: options.upstreamScopes ?? ["openid", "email", "offline_access"],
          // OpenID Connect Core §11: an IdP grants offline_access only with prompt=consent.
          extra_authorize_params: { prompt: "consent" },
        },
        ...options.config,
      },
      secrets: [{ kid: "k1", secret: Redacted.make("integration-test-secret-0123456789-abcdef") }],
      store: options.store ?? Store.layerMemory,
      upstream: {
        client_secret: Redacted.make(client.client_secret),
        token_endpoint_auth_method: client.token_endpoint_auth_method,
      },
      ...(options.clientMetadata === undefined ? {} : { clientMetadata: options.clientMetadata }),
    }),
    { onAuthorized: forward(mcp.url) },
  )
  handler = built.handler
  return {
    idp,
    mcp,
    proxyUrl,
    resourceUrl: `${proxyUrl}/mcp`,
    close: async () => {
      await listening.close()
      await built.dispose()
      await mcp.close()
      await idp.close()
    },
  }
}

/**
 * Several proxy instances behind one address, sharing nothing but the store (MCP 2026-07-28 has
 * no protocol sessions; a load balancer needs no sticky routing): a strict round-robin front sends
 * every request to the other instance, so the sign-in, the token call and every MCP request hop
 * between them. Behind them, a stateless MCP server and one that still issues `Mcp-Session-Id`:
 * both work, because the gateway forwards the header both ways and keeps no session of its own.
 */
import { Store } from "@oidc-proxy/core"
import { WebHandler } from "@oidc-proxy/http"
import { NodeServer, ProxyLayer, ReverseProxy } from "@oidc-proxy/node"
import { HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import { Effect, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const interact = HeadlessBrowser.firstOf(
  HeadlessBrowser.pressButton("decision", "approve"),
  HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
)

interface Pair {
  readonly url: string
  /** Which instance served each request, in order, with its path. */
  readonly served: Array<{ readonly instance: "A" | "B"; readonly path: string }>
  readonly close: () => Promise<void>
}

/** Two proxy instances over one shared store behind a round-robin front, forwarding to `target`. */
const startPair = async (idp: LocalIdp.LocalIdp, target: string): Promise<Pair> => {
  const shared = Layer.succeed(Store.Store, Effect.runSync(Store.makeMemory))
  let instances: ReadonlyArray<WebHandler.Handler> = []
  const served: Pair["served"] = []
  let next = 0
  const front = await NodeServer.listen(
    async (request) => {
      const i = next++ % 2
      served.push({ instance: i === 0 ? "A" : "B", path: new URL(request.url).pathname })
      return instances[i]!(request)
    },
    { host: "127.0.0.1", port: 0 },
  )
  const client = idp.clients[0]!
  const built = await Promise.all(
    [0, 1].map(() =>
      WebHandler.fromLayer(
        ProxyLayer.layer({
          config: {
            issuer: front.url,
            resource: `${front.url}/mcp`,
            required_scopes: ["mcp:read"],
            upstream: {
              issuer: idp.issuer,
              client_id: client.client_id,
              audience: idp.audience,
              scopes: ["openid", "email", "offline_access"],
              extra_authorize_params: { prompt: "consent" },
            },
          },
          secrets: [{ kid: "k1", secret: Redacted.make("stateless-gateways-secret-0123456789-abcdef") }],
          store: shared,
          upstream: {
            client_secret: Redacted.make(client.client_secret),
            token_endpoint_auth_method: client.token_endpoint_auth_method,
          },
        }),
        { onAuthorized: ReverseProxy.make({ target: new URL(target), resourcePath: "/mcp" }) },
      ),
    ),
  )
  instances = built.map((b) => b.handler)
  return {
    url: front.url,
    served,
    close: async () => {
      await front.close()
      await Promise.all(built.map((b) => b.dispose()))
    },
  }
}

describe("two gateway instances, one store, no sticky routing", () => {
  let idp: LocalIdp.LocalIdp
  beforeAll(async () => {
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
  }, 30_000)
  afterAll(() => idp?.close())

  for (const stateful of [true, false]) {
    it(`a session started on one instance continues on the other (${stateful ? "target issues Mcp-Session-Id" : "stateless target"})`, async () => {
      const mcp = await McpServer.startMcpServer({ stateful })
      const pair = await startPair(idp, mcp.url)
      try {
        const { client, provider } = await McpClient.connectWithOAuth(`${pair.url}/mcp`, {
          interact,
          scope: "openid email offline_access mcp:read",
        })
        for (let i = 0; i < 3; i++) {
          const result = await client.callTool({ name: "whoami", arguments: {} })
          expect((result.structuredContent as { user: string }).user).toBe("ada")
        }
        // Every step of the sign-in and the MCP requests hopped between the instances.
        const on = (path: string) =>
          new Set(pair.served.filter((s) => s.path === path).map((s) => s.instance))
        expect(on("/mcp")).toEqual(new Set(["A", "B"]))
        const flow = pair.served.filter((s) =>
          ["/authorize", "/consent", "/auth/callback", "/token"].includes(s.path),
        )
        expect(new Set(flow.map((s) => s.instance))).toEqual(new Set(["A", "B"]))
        const sessionIds = new Set(
          mcp.requests.map((r) => r.headers["mcp-session-id"]).filter((h) => typeof h === "string"),
        )
        if (stateful) expect(sessionIds.size).toBe(1)
        else expect(sessionIds.size).toBe(0)
        // A refresh on either instance works with the other's tokens.
        const refreshed = await fetch(`${pair.url}/token`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({
            grant_type: "refresh_token",
            refresh_token: provider.tokens()!.refresh_token!,
            client_id: provider.clientInformation()!.client_id,
          }),
        })
        expect(refreshed.status).toBe(200)
        await client.close()
      } finally {
        await pair.close()
        await mcp.close()
      }
    }, 60_000)
  }
})

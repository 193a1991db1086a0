/**
 * Fault: the shared store's server stops during a run. The real gateway (`Gateway.start`,
 * configured from the environment with `OIDC_PROXY_STORE` the server's URL) in front of the
 * testbed's MCP server, against oidc-provider, with tokens from the real MCP SDK client flow.
 *
 * The outage is the server process stopping and a new one starting on the same port over the same
 * data: the service goes away and comes back with its data, as a restarted or failed-over server
 * would. While it is down, requests that need the store answer 503 `temporarily_unavailable` with
 * `Retry-After` (never 200 for a token not seen before, never 500); a token seen before is answered
 * from the verified-token cache at most `cache_ttl_seconds` (5 s) into the outage. When the server
 * is back the gateway recovers by itself and everything issued before the outage still works.
 *
 * Test support: each store's scenario file calls {@link storeOutage} with its fixture.
 */
import type { Gateway } from "@oidc-proxy/node"
import { GatewayProcess, HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, expect, it } from "vitest"
import { bearer, postToken, refresh, startGateway } from "./flows.ts"
import { freePort, waitFor } from "./processes.ts"

/** A store server that can go away and come back on the same URL with its data. */
export interface OutageServer {
  readonly url: string
  /** Stops the server: the outage. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port over the same data. */
  readonly start: () => Promise<void>
  /** Stops it and removes its data. */
  readonly dispose: () => Promise<void>
}

/** How a store takes part: its name in the title, its `describe`, and a started server. */
export interface OutageFixture {
  readonly name: string
  /** `describe(name)`, skipped locally (failing in CI) without the server's binaries. */
  readonly describe: (name: string, body: () => void) => void
  readonly start: () => Promise<OutageServer>
}

/** The verified-token cache bound (`cache_ttl_seconds` default) and a margin for a loaded machine. */
const cacheBoundMs = 5_000
const marginMs = 2_000

export const storeOutage = (fixture: OutageFixture): void =>
  fixture.describe(`fault: ${fixture.name} stopped during a run`, () => {
    let server: OutageServer
    let idp: LocalIdp.LocalIdp
    let mcp: McpServer.RunningMcpServer
    let gateway: Gateway.Gateway

    beforeAll(async () => {
      server = await fixture.start()
      idp = await LocalIdp.startLocalIdp({
        quiet: true,
        client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
      })
      mcp = await McpServer.startMcpServer()
      const url = `http://127.0.0.1:${await freePort()}`
      gateway = await startGateway({
        ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
        OIDC_PROXY_STORE: server.url,
        OIDC_PROXY_SECRET: `${fixture.name.toLowerCase()}-outage-secret-0123456789-abcdefghij`,
        OIDC_PROXY_LOG_LEVEL: "none",
      })
    }, 30_000)

    afterAll(async () => {
      await gateway?.shutdown()
      await server?.dispose()
      await mcp?.close()
      await idp?.close()
    })

    it("503 temporarily_unavailable while down (fail closed); resumes by itself; tokens from before the outage work after it", async () => {
      const { client, provider } = await McpClient.connectWithOAuth(`${gateway.url}/mcp`, {
        interact: HeadlessBrowser.firstOf(
          HeadlessBrowser.pressButton("decision", "approve"),
          HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
        ),
        scope: "openid email offline_access",
      })
      try {
        const seen = await client.callTool({ name: "whoami", arguments: {} })
        expect(seen.structuredContent).toMatchObject({ user: "ada" })
        const sdkTokens = provider.tokens()!
        const clientId = provider.savedClients[0]!.client_id
        // A second token pair, never presented as a bearer: its first check happens in the outage.
        const rotated = await refresh(gateway.url, {
          client_id: clientId,
          refresh_token: sdkTokens.refresh_token!,
        })
        expect(rotated.status, rotated.text).toBe(200)
        const unseen = {
          client_id: clientId,
          access_token: rotated.body["access_token"] as string,
          refresh_token: rotated.body["refresh_token"] as string,
        }

        await server.stop()
        const down = performance.now()
        const outage = [
          ["bearer check of a token not seen before", () => bearer(gateway.url, unseen.access_token)],
          ["refresh", () => refresh(gateway.url, unseen)],
          [
            "registration",
            () =>
              fetch(`${gateway.url}/register`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({
                  redirect_uris: ["http://127.0.0.1:9/cb"],
                  token_endpoint_auth_method: "none",
                }),
              }).then(async (r) => ({
                status: r.status,
                text: await r.text(),
                retryAfter: r.headers.get("retry-after"),
              })),
          ],
          [
            "code redemption",
            () =>
              postToken(gateway.url, {
                grant_type: "authorization_code",
                code: "x".repeat(43),
                redirect_uri: "http://127.0.0.1:9/cb",
                code_verifier: "v".repeat(43),
                client_id: clientId,
              }),
          ],
        ] as const
        for (const [what, request] of outage) {
          const res = await request()
          expect(res.status, `${what}: ${res.text}`).toBe(503)
          expect(res.text, what).toContain("temporarily_unavailable")
          expect(res.retryAfter, what).not.toBeNull()
        }
        expect((await fetch(`${gateway.url}/readyz`)).status).toBe(503)
        // The token the SDK used is in this instance's verified-token cache; the cache is bounded, so
        // within its bound the outage reaches it too.
        const refusedAfter = await waitFor(
          "the cached token refused during the outage",
          async () => {
            const res = await bearer(gateway.url, sdkTokens.access_token)
            if (res.status === 200) return undefined
            expect(res.status, res.text).toBe(503)
            return performance.now() - down
          },
          { timeoutMs: cacheBoundMs + marginMs, intervalMs: 250 },
        )
        expect(refusedAfter).toBeLessThan(cacheBoundMs + marginMs)

        await server.start()
        await waitFor(
          "the gateway ready again",
          async () => ((await fetch(`${gateway.url}/readyz`)).status === 200 ? true : undefined),
          { timeoutMs: 10_000, intervalMs: 100 },
        )
        // Everything issued before the outage: the SDK's client (its token, then its session),
        // the token never presented, and the refresh token the outage refused.
        const after = await client.callTool({ name: "whoami", arguments: {} })
        expect(after.structuredContent).toMatchObject({ user: "ada" })
        const check = await bearer(gateway.url, unseen.access_token)
        expect(check.status, check.text).toBe(200)
        const next = await refresh(gateway.url, unseen)
        expect(next.status, next.text).toBe(200)
        expect((await bearer(gateway.url, next.body["access_token"] as string)).status).toBe(200)
      } finally {
        await client.close()
      }
    }, 40_000)
  })

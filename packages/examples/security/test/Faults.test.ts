/**
 * Upstream faults over the real fetch handler (scripted upstream token endpoint, in process): a
 * failed code exchange or refresh gives the client a clear error and stores nothing half-way; a
 * transient refresh failure gives the refresh token back so the retry works once the IdP is back.
 */
import { TestUpstreamClient } from "@oidc-proxy/core/testing"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  assertLogsClean,
  bearerRequest,
  cookieHeader,
  expectOAuthError,
  getRequest,
  issuer,
  makeProxy,
  refreshRequest,
  register,
  session,
  tokensOf,
  toUpstream,
} from "./support.ts"

describe("upstream faults", () => {
  for (const [name, error, expected] of [
    ["unreachable", TestUpstreamClient.unreachable(), "temporarily_unavailable"],
    ["answering invalid_grant", TestUpstreamClient.rejected(), "server_error"],
  ] as const) {
    it(`code exchange ${name} - the client gets error=${expected}, nothing is stored half-way`, async () => {
      const p = await makeProxy()
      try {
        const client = await register(p)
        const at = await toUpstream(p, client)
        await Effect.runPromise((await p.upstream()).setCode("failing-code", { error }))
        const before = await p.keys()
        const res = await p.send(
          getRequest("/auth/callback", { state: at.state, code: "failing-code" }, cookieHeader(at.jar)),
        )
        expect(res.status).toBe(302)
        const location = new URL(res.headers.get("location")!)
        expect(`${location.origin}${location.pathname}`).toBe(client.redirect_uris[0])
        expect(location.searchParams.get("error")).toBe(expected)
        expect(location.searchParams.get("iss")).toBe(issuer)
        expect(location.searchParams.get("code")).toBeNull()
        const after = await p.keys()
        // Only the transaction is gone (taken once); no code, no upstream set, no family.
        expect(after).toEqual(before.filter((k) => !k.startsWith("txn:")))
        assertLogsClean(p)
      } finally {
        await p.dispose()
      }
    })
  }

  it("refresh while the IdP is unreachable - 503 temporarily_unavailable, the token is given back and works afterwards", async () => {
    const p = await makeProxy()
    try {
      const { client, tokens } = await session(p, {}, { upstream: { expiresIn: 30 } })
      const control = await p.upstream()
      await Effect.runPromise(control.setRefresh({ error: TestUpstreamClient.unreachable() }))
      p.advance(60) // the upstream access token has expired: it must be refreshed to serve anything
      const before = await p.snapshot()
      const down = await p.send(refreshRequest(client, tokens.refresh_token!))
      expectOAuthError(down, 503, "temporarily_unavailable")
      expect(down.headers.get("retry-after")).toBe("5")
      expect(await p.keys("refresh:")).toEqual(
        [...before.keys()].filter((k) => k.startsWith("refresh:") && !k.startsWith("refresh-rotated:")),
      )
      expect(await p.keys("refresh-rotated:")).toEqual([])
      await Effect.runPromise(control.setRefresh({}))
      const up = tokensOf(p, await p.send(refreshRequest(client, tokens.refresh_token!)))
      expect((await p.send(bearerRequest(up.access_token))).status).toBe(200)
      expect(await Effect.runPromise(control.refreshes)).toHaveLength(2)
      assertLogsClean(p)
    } finally {
      await p.dispose()
    }
  })

  it("refresh refused by the IdP (session ended upstream) - 400 invalid_grant, no new tokens", async () => {
    const p = await makeProxy()
    try {
      const { client, tokens } = await session(p, {}, { upstream: { expiresIn: 30 } })
      await Effect.runPromise((await p.upstream()).setRefresh({ error: TestUpstreamClient.rejected() }))
      const jtis = await p.keys("jti:")
      const res = await p.send(refreshRequest(client, tokens.refresh_token!))
      expectOAuthError(res, 400, "invalid_grant")
      expect(await p.keys("jti:")).toEqual(jtis)
    } finally {
      await p.dispose()
    }
  })
})

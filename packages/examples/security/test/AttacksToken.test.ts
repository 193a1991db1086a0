/**
 * Attacks on `/token` and on the token lifecycle over the real fetch handler: PKCE, code replay
 * and theft, token-type confusion, refresh reuse, oversized input. Each test is one attack: the
 * status, the OAuth error code, and the store change (none, or exactly the revocation).
 */
import { Store } from "@oidc-proxy/core"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertLogsClean,
  bearerRequest,
  type Client,
  expectOAuthError,
  formRequest,
  getRequest,
  issuer,
  makeProxy,
  type ProxyUnderTest,
  redeemRequest,
  refreshRequest,
  register,
  resource as resource_,
  session,
  signIn,
  tokensOf,
  withoutStateChange,
} from "./support.ts"

let p: ProxyUnderTest
let client: Client
beforeAll(async () => {
  p = await makeProxy()
  client = await register(p)
})
afterAll(async () => {
  assertLogsClean(p)
  await p.dispose()
})

/** What changed in the store between two snapshots. */
const diff = (before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>) => ({
  added: [...after.keys()].filter((k) => !before.has(k)),
  removed: [...before.keys()].filter((k) => !after.has(k)),
  changed: [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)),
})

describe("attacks on /token", () => {
  it("wrong PKCE verifier - 400 invalid_grant, the code stays unredeemed", async () => {
    const signed = await signIn(p, client)
    for (const verifier of [`${signed.verifier}x`, "a".repeat(43), "", signed.challenge]) {
      const res = await withoutStateChange(p, () =>
        p.send(redeemRequest(client, signed, { code_verifier: verifier })),
      )
      expectOAuthError(res, 400, verifier === "" ? "invalid_grant" : "invalid_grant")
    }
    const missing = await withoutStateChange(p, () =>
      p.send(redeemRequest(client, signed, { code_verifier: undefined })),
    )
    expectOAuthError(missing, 400, "invalid_request")
    tokensOf(p, await p.send(redeemRequest(client, signed)))
  })

  it("authorization code replay - 400 invalid_grant and exactly the first redemption's tokens are revoked", async () => {
    const { client: c, signedIn, tokens } = await session(p)
    const upstreamRevocations = (await Effect.runPromise((await p.upstream()).revocations)).length
    const before = await p.snapshot()
    const writes = (await p.writes()).length
    const replay = await p.send(redeemRequest(c, signedIn))
    expectOAuthError(replay, 400, "invalid_grant")
    const change = diff(before, await p.snapshot())
    // The family's revocation mark is added (never undone by a concurrent grant, issue 20).
    expect(change.added.map((k) => k.split(":")[0])).toEqual(["family-revoked"])
    // The family is marked revoked; its access token's jti mapping, the upstream set and the
    // remembered step-up grant are gone.
    expect(change.changed.map((k) => k.split(":")[0])).toEqual(["family"])
    expect(change.removed.map((k) => k.split(":")[0]).sort()).toEqual(["grant", "jti", "upstream"])
    const ops = (await p.writes()).slice(writes).map((w) => `${w.operation} ${w.key.split(":")[0]}`)
    expect(ops.sort()).toEqual([
      "delete grant",
      "delete jti",
      "delete upstream",
      "set family",
      // A one-time mark: a bounded store never evicts it early, and a second revocation keeps it.
      "setIfAbsent family-revoked",
    ])
    expectOAuthError(await p.send(bearerRequest(tokens.access_token)), 401, "invalid_token")
    expectOAuthError(await p.send(refreshRequest(c, tokens.refresh_token!)), 400, "invalid_grant")
    const revocations = await Effect.runPromise((await p.upstream()).revocations)
    expect(revocations.length).toBe(upstreamRevocations + 1)
    expect(p.logs.some((l) => l.includes("token family revoked"))).toBe(true)
  })

  it("authorization code replay racing the first redemption - the replay still revokes what the first issues", async () => {
    // A store that is slow to write jti mappings widens the window between the code being taken
    // and the tokens being issued — where a replay used to find nothing to revoke.
    const slow = Store.layerTest((memory) => ({
      set: (key, value, ttl) =>
        key.startsWith("jti:")
          ? Effect.andThen(Effect.sleep("40 millis"), memory.set(key, value, ttl))
          : memory.set(key, value, ttl),
    }))
    const r = await makeProxy({ store: slow })
    try {
      const c = await register(r)
      const signed = await signIn(r, c)
      const first = r.send(redeemRequest(c, signed))
      await new Promise((resolve) => setTimeout(resolve, 15))
      const replay = await r.send(redeemRequest(c, signed))
      expectOAuthError(replay, 400, "invalid_grant")
      expect(replay.json?.["error_description"]).toContain("revoked")
      // The first redemption sees the revocation once its tokens are written (issue 20): it is
      // refused, or answered with tokens that are already dead.
      const answer = await first
      if (answer.status === 200) {
        const tokens = tokensOf(r, answer)
        expectOAuthError(await r.send(bearerRequest(tokens.access_token)), 401, "invalid_token")
        expectOAuthError(await r.send(refreshRequest(c, tokens.refresh_token!)), 400, "invalid_grant")
      } else expectOAuthError(answer, 400, "invalid_grant")
      expect(await r.keys("jti:")).toEqual([])
      expect(await Effect.runPromise((await r.upstream()).revocations)).toHaveLength(1)
    } finally {
      await r.dispose()
    }
  })

  it("a resource other than the proxy's at /token - 400 invalid_target, nothing changes (RFC 8707 §2)", async () => {
    const signed = await signIn(p, client)
    for (const resource of ["https://other.example/mcp", `${resource_}/`, issuer]) {
      const res = await withoutStateChange(p, () => p.send(redeemRequest(client, signed, { resource })))
      expectOAuthError(res, 400, "invalid_target")
    }
    const tokens = tokensOf(p, await p.send(redeemRequest(client, signed, { resource: resource_ })))
    const refused = await withoutStateChange(p, () =>
      p.send(refreshRequest(client, tokens.refresh_token!, { resource: "https://other.example/mcp" })),
    )
    expectOAuthError(refused, 400, "invalid_target")
    tokensOf(p, await p.send(refreshRequest(client, tokens.refresh_token!, { resource: resource_ })))
  })

  it("a code redeemed by another client - 400 invalid_grant, the rightful client still redeems it", async () => {
    const signed = await signIn(p, client)
    const thief = await register(p)
    const res = await withoutStateChange(p, () => p.send(redeemRequest(thief, signed)))
    expectOAuthError(res, 400, "invalid_grant")
    // Naming the victim's client_id without its credentials is no better for a confidential client.
    const confidential = await register(p, { token_endpoint_auth_method: "client_secret_post" })
    const signed2 = await signIn(p, confidential)
    const impersonated = await withoutStateChange(p, () =>
      p.send(
        formRequest("/token", {
          grant_type: "authorization_code",
          code: signed2.code,
          redirect_uri: signed2.redirect_uri,
          code_verifier: signed2.verifier,
          client_id: confidential.client_id,
        }),
      ),
    )
    expectOAuthError(impersonated, 401, "invalid_client")
    tokensOf(p, await p.send(redeemRequest(client, signed)))
    tokensOf(p, await p.send(redeemRequest(confidential, signed2)))
  })

  it("an access token used as a refresh token - 400 invalid_grant, nothing changes", async () => {
    const { client: c, tokens } = await session(p)
    const res = await withoutStateChange(p, () => p.send(refreshRequest(c, tokens.access_token)))
    expectOAuthError(res, 400, "invalid_grant")
    expect((await p.send(bearerRequest(tokens.access_token))).status).toBe(200)
  })

  it("refresh reuse after rotation - 400 invalid_grant and the whole family is revoked", async () => {
    const { client: c, tokens } = await session(p)
    const rotated = tokensOf(p, await p.send(refreshRequest(c, tokens.refresh_token!)))
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token)
    p.advance(31) // past the 30 s grace window
    const before = await p.snapshot()
    const reuse = await p.send(refreshRequest(c, tokens.refresh_token!))
    expectOAuthError(reuse, 400, "invalid_grant")
    const change = diff(before, await p.snapshot())
    expect(change.added.map((k) => k.split(":")[0])).toEqual(["family-revoked"])
    expect(change.changed.map((k) => k.split(":")[0])).toEqual(["family"])
    expect(new Set(change.removed.map((k) => k.split(":")[0]))).toEqual(new Set(["grant", "jti", "upstream"]))
    expectOAuthError(await p.send(bearerRequest(rotated.access_token)), 401, "invalid_token")
    expectOAuthError(await p.send(refreshRequest(c, rotated.refresh_token!)), 400, "invalid_grant")
  })

  it("a refresh token of another client - 400 invalid_grant, nothing changes", async () => {
    const { tokens } = await session(p)
    const other = await register(p)
    const res = await withoutStateChange(p, () => p.send(refreshRequest(other, tokens.refresh_token!)))
    expectOAuthError(res, 400, "invalid_grant")
  })
})

describe("oversized input", () => {
  it("oversized bodies, headers and tokens - refused before any work, nothing changes", async () => {
    const { client: c, tokens } = await session(p)
    const big = "a".repeat(200_000)
    const body = await withoutStateChange(p, () =>
      p.send(
        formRequest("/token", { grant_type: "refresh_token", refresh_token: big, client_id: c.client_id }),
      ),
    )
    expectOAuthError(body, 400, "invalid_request")
    expect(body.json?.["error_description"]).toBe("the request body is too large")
    const declared = await withoutStateChange(p, () =>
      p.send(
        new Request("https://proxy.test/revoke", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", "content-length": "999999999" },
          body: "token=x",
        }),
      ),
    )
    expectOAuthError(declared, 400, "invalid_request")
    const bearer = await withoutStateChange(p, () =>
      p.send(bearerRequest(`${tokens.access_token}${"A".repeat(20_000)}`)),
    )
    expectOAuthError(bearer, 401, "invalid_token")
    expect(bearer.json?.["error_description"]).toBe("The access token is too large")
    const cookie = await withoutStateChange(p, () =>
      p.send(getRequest("/auth/callback", { state: "s" }, { cookie: `a=${"b".repeat(100_000)}` })),
    )
    expect(cookie.status).toBe(400)
    const query = await withoutStateChange(p, () =>
      p.send(getRequest("/authorize", { client_id: c.client_id, state: big })),
    )
    expect(query.status).toBeLessThan(500)
    expect(query.text).not.toContain(big.slice(0, 1000))
    const register = await withoutStateChange(p, () =>
      p.send(
        new Request("https://proxy.test/register", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ redirect_uris: ["https://a.example/cb"], client_name: big }),
        }),
      ),
    )
    expectOAuthError(register, 400, "invalid_request")
  })
})

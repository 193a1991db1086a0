/**
 * Races over the real fetch handler: many parallel redemptions of one code and many parallel
 * refreshes of one refresh token, in process (the handler runs each request on its own fiber).
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import {
  bearerRequest,
  makeProxy,
  redeemRequest,
  refreshRequest,
  register,
  session,
  signIn,
  tokensOf,
} from "./support.ts"

const parallel = 50

describe("concurrency", () => {
  it("50 parallel /token requests with one code - exactly one 200, the rest invalid_grant", async () => {
    const p = await makeProxy()
    try {
      const client = await register(p)
      const signed = await signIn(p, client)
      const answers = await Promise.all(
        Array.from({ length: parallel }, () => p.send(redeemRequest(client, signed))),
      )
      const ok = answers.filter((a) => a.status === 200)
      expect(ok).toHaveLength(1)
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status, a.text).toBe(400)
        expect(a.json?.["error"]).toBe("invalid_grant")
      }
      // Exactly one set of tokens exists: one jti mapping, at most one refresh token.
      expect((await p.keys("refresh:")).length).toBeLessThanOrEqual(1)
      expect((await p.keys("jti:")).length).toBeLessThanOrEqual(1)
      const tokens = tokensOf(p, ok[0]!)
      // A loser that came after the winner is a replay: the winner's tokens are then revoked.
      const replays = answers.filter((a) => String(a.json?.["error_description"]).includes("are revoked"))
      const bearer = await p.send(bearerRequest(tokens.access_token))
      expect(bearer.status, `${replays.length} replays detected`).toBe(replays.length > 0 ? 401 : 200)
      const refreshed = await p.send(refreshRequest(client, tokens.refresh_token!))
      expect(refreshed.status).toBe(replays.length > 0 ? 400 : 200)
    } finally {
      await p.dispose()
    }
  })

  it("50 parallel refreshes with one refresh token - one rotation, the same answer for all, no upstream refresh", async () => {
    const p = await makeProxy()
    try {
      const { client, tokens } = await session(p)
      const answers = await Promise.all(
        Array.from({ length: parallel }, () => p.send(refreshRequest(client, tokens.refresh_token!))),
      )
      for (const a of answers) expect(a.status, a.text).toBe(200)
      const bodies = new Set(answers.map((a) => a.text))
      expect(bodies.size, "every racer gets the one rotated answer").toBe(1)
      const rotated = tokensOf(p, answers[0]!)
      expect(rotated.refresh_token).not.toBe(tokens.refresh_token)
      expect((await p.keys("refresh:")).length, "one live refresh token").toBe(1)
      expect(await Effect.runPromise((await p.upstream()).refreshes)).toHaveLength(0)
      expect((await p.send(bearerRequest(rotated.access_token))).status).toBe(200)
      tokensOf(p, await p.send(refreshRequest(client, rotated.refresh_token!)))
    } finally {
      await p.dispose()
    }
  })

  it("50 parallel refreshes when the upstream token is near expiry - the upstream is refreshed exactly once", async () => {
    const p = await makeProxy()
    try {
      // The upstream access token expires in 30 s, inside the 60 s refresh skew.
      const { client, tokens } = await session(p, {}, { upstream: { expiresIn: 30 } })
      await Effect.runPromise((await p.upstream()).setRefresh({ latency: "30 millis" }))
      const answers = await Promise.all(
        Array.from({ length: parallel }, () => p.send(refreshRequest(client, tokens.refresh_token!))),
      )
      for (const a of answers) expect(a.status, a.text).toBe(200)
      expect(new Set(answers.map((a) => a.text)).size).toBe(1)
      expect(await Effect.runPromise((await p.upstream()).refreshes)).toHaveLength(1)
      const rotated = tokensOf(p, answers[0]!)
      expect((await p.send(bearerRequest(rotated.access_token))).status).toBe(200)
    } finally {
      await p.dispose()
    }
  })
})

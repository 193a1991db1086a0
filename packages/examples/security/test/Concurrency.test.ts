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
  it("50 parallel /token requests with one code - at most one 200, the rest invalid_grant, nothing stays alive", async () => {
    const p = await makeProxy()
    try {
      const client = await register(p)
      const signed = await signIn(p, client)
      const answers = await Promise.all(
        Array.from({ length: parallel }, () => p.send(redeemRequest(client, signed))),
      )
      const ok = answers.filter((a) => a.status === 200)
      expect(ok.length).toBeLessThanOrEqual(1)
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status, a.text).toBe(400)
        expect(a.json?.["error"]).toBe("invalid_grant")
      }
      // Every loser is a replay of the winner (issue 20): what the winner got is revoked, whatever
      // the order in which the requests ran.
      expect(await p.keys("jti:")).toEqual([])
      for (const answer of ok) {
        const tokens = tokensOf(p, answer)
        expect((await p.send(bearerRequest(tokens.access_token))).status).toBe(401)
        expect((await p.send(refreshRequest(client, tokens.refresh_token!))).status).toBe(400)
      }
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

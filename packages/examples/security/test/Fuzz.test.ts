/**
 * Fuzzing every endpoint over the real fetch handler: random requests (methods, paths, queries,
 * headers, bodies) and mutations of valid requests (a flipped character in a code, verifier,
 * token or cookie; a field dropped, repeated or replaced). Invariants: never a 5xx (503 only under
 * an injected store outage), never a secret, token or stack trace in an error body or a log line,
 * never a store write for a rejected request. The seed is fixed in CI (vitest.setup.ts).
 */
import { OAuthError, Store } from "@oidc-proxy/core"
import { Effect } from "effect"
import * as fc from "fast-check"
import { afterAll, describe, expect, it } from "vitest"
import {
  type Counters,
  mutateCookies,
  mutateFields,
  mutateString,
  randomRequest,
  sendChecked,
  withoutControls,
} from "./fuzz.ts"
import {
  assertLogsClean,
  bearerRequest,
  clientAuth,
  cookieHeader,
  formRequest,
  getRequest,
  issuer,
  makeProxy,
  pkce,
  redeemRequest,
  register,
  session,
  signIn,
  toConsent,
  tokensOf,
  toUpstream,
} from "./support.ts"

const counters: Counters = { requests: 0, rejected: 0 }
afterAll(() => {
  // The closing note of the battery quotes this line.
  console.info(`fuzz: ${counters.requests} requests, ${counters.rejected} rejected without a store write`)
})

/** A proxy with a confidential client, a public client and a live session, all secrets noted. */
const seeded = async () => {
  const p = await makeProxy()
  const confidential = await register(p, { token_endpoint_auth_method: "client_secret_basic" })
  const s = await session(p)
  return { p, confidential, ...s }
}

/** A form POST from entries (repeated names stay repeated). */
const formOf = (path: string, fields: ReadonlyArray<[string, string]>) =>
  new Request(`${issuer}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams([...fields]).toString(),
  })

const toRequest = (make: () => Request): Request | undefined => {
  try {
    return make()
  } catch {
    return undefined // not a request a client could send (forbidden method, bad header value)
  }
}

describe("fuzz", () => {
  it("random requests to every endpoint - no 5xx, no secret or stack trace, no write when refused", async () => {
    const { p, client, tokens, confidential } = await seeded()
    try {
      await fc.assert(
        fc.asyncProperty(randomRequest, async (make) => {
          const request = toRequest(make)
          if (request !== undefined) await sendChecked(p, request, counters)
        }),
        { numRuns: 1500 },
      )
      // The session survived the storm: nothing random revoked or leaked it.
      expect((await p.send(bearerRequest(tokens.access_token))).status).toBe(200)
      expect([client.client_id, confidential.client_id]).toHaveLength(2)
      assertLogsClean(p)
    } finally {
      await p.dispose()
    }
  })

  it("random requests carrying real tokens, codes and cookies in random places", async () => {
    const { p, client, tokens, confidential } = await seeded()
    try {
      const at = await toConsent(p, client)
      const real = [
        tokens.access_token,
        tokens.refresh_token!,
        confidential.client_secret!,
        at.transaction,
        at.csrf,
        ...Object.values(at.jar),
        client.client_id,
      ]
      const withReal = fc.tuple(
        fc.constantFrom("/token", "/revoke", "/consent", "/auth/callback", "/authorize", "/mcp", "/register"),
        fc.constantFrom("GET", "POST"),
        fc.array(
          fc.tuple(
            fc.constantFrom(
              "code",
              "refresh_token",
              "token",
              "state",
              "transaction",
              "csrf",
              "client_id",
              "client_secret",
              "code_verifier",
              "grant_type",
            ),
            fc.constantFrom(...real, "refresh_token", "authorization_code"),
          ),
          { maxLength: 6 },
        ),
        fc.constantFrom(...real),
        fc.constantFrom("Bearer", "Basic", "bearer", ""),
        fc.boolean(),
      )
      await fc.assert(
        fc.asyncProperty(withReal, async ([path, method, fields, auth, scheme, asCookie]) => {
          const form = new URLSearchParams(fields)
          const headers: Record<string, string> = {
            authorization: `${scheme} ${auth}`.trim(),
            ...(asCookie ? cookieHeader(at.jar) : {}),
          }
          const request =
            method === "GET"
              ? new Request(`${issuer}${path}?${form}`, { headers })
              : new Request(`${issuer}${path}`, {
                  method,
                  headers: { ...headers, "content-type": "application/x-www-form-urlencoded" },
                  body: form.toString(),
                })
          await sendChecked(p, request, counters)
        }),
        { numRuns: 400 },
      )
      assertLogsClean(p)
    } finally {
      await p.dispose()
    }
  })

  it("mutated valid requests - authorize, consent, callback, token (code), revoke and the bearer check", async () => {
    const p = await makeProxy()
    try {
      const client = await register(p)
      const kinds = ["authorize", "consent", "callback", "code", "revoke", "bearer"] as const
      let upstreamCodes = 0
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...kinds), fc.nat(), async (kind, seed) => {
          const pick = <A>(arb: fc.Arbitrary<A>) => fc.sample(arb, { numRuns: 1, seed })[0]!
          switch (kind) {
            case "authorize": {
              const { challenge } = await pkce()
              const q = {
                client_id: client.client_id,
                redirect_uri: client.redirect_uris[0]!,
                response_type: "code",
                code_challenge: challenge,
                code_challenge_method: "S256",
                state: "s",
              }
              const fields = pick(mutateFields(q))
              const url = `${issuer}/authorize?${new URLSearchParams(fields)}`
              await sendChecked(p, new Request(url), counters)
              return
            }
            case "consent": {
              const at = await toConsent(p, client)
              const fields = pick(
                mutateFields({ transaction: at.transaction, csrf: at.csrf, decision: "approve" }, [
                  "transaction",
                  "csrf",
                ]),
              )
              const mutateJar = pick(fc.boolean())
              const cookie = mutateJar ? pick(mutateCookies(at.jar)) : (cookieHeader(at.jar).cookie ?? "")
              const req = new Request(`${issuer}/consent`, {
                method: "POST",
                headers: {
                  "content-type": "application/x-www-form-urlencoded",
                  ...(cookie === "" ? {} : { cookie }),
                },
                body: new URLSearchParams(
                  mutateJar ? { transaction: at.transaction, csrf: at.csrf, decision: "approve" } : fields,
                ).toString(),
              })
              const res = await sendChecked(p, req, counters)
              expect(res.status, "a mutated consent form is never approved").not.toBe(302)
              return
            }
            case "callback": {
              const at = await toUpstream(p, client)
              const code = `fuzz-upstream-${++upstreamCodes}`
              await Effect.runPromise((await p.upstream()).setCode(code))
              const mutateJar = pick(fc.boolean())
              const fields = mutateJar
                ? Object.entries({ state: at.state, code })
                : pick(mutateFields({ state: at.state, code }, ["state"]))
              const cookie = mutateJar ? pick(mutateCookies(at.jar)) : (cookieHeader(at.jar).cookie ?? "")
              const res = await sendChecked(
                p,
                new Request(`${issuer}/auth/callback?${new URLSearchParams(fields)}`, {
                  headers: cookie === "" ? {} : { cookie },
                }),
                counters,
              )
              expect(res.status, "a mutated callback never yields a code").not.toBe(302)
              return
            }
            case "code": {
              const s = await signIn(p, client)
              const fields = pick(
                mutateFields({
                  grant_type: "authorization_code",
                  code: s.code,
                  redirect_uri: s.redirect_uri,
                  code_verifier: s.verifier,
                  client_id: client.client_id,
                }),
              )
              const res = await sendChecked(
                p,
                new Request(`${issuer}/token`, {
                  method: "POST",
                  headers: { "content-type": "application/x-www-form-urlencoded" },
                  body: new URLSearchParams(fields).toString(),
                }),
                counters,
              )
              expect(res.status, "a mutated code redemption never succeeds").not.toBe(200)
              // The untouched request still works: the refused one consumed nothing.
              tokensOf(p, await p.send(redeemRequest(client, s)))
              return
            }
            case "revoke": {
              const s = await session(p)
              const fields = pick(
                mutateFields({ token: s.tokens.refresh_token!, client_id: client.client_id }, ["token"]),
              )
              const res = await sendChecked(p, formOf("/revoke", fields), counters)
              if (res.status === 200)
                expect((await p.send(bearerRequest(s.tokens.access_token))).status).toBe(200)
              return
            }
            case "bearer": {
              const s = await session(p)
              const original = s.tokens.access_token
              const mutated = withoutControls(pick(mutateString(original)))
              // Whitespace around the token is the header's, not the token's.
              const token = mutated.trim() === original ? `${original}x` : mutated
              const scheme = pick(fc.constantFrom("Bearer ", "bearer ", "Bearer  ", "DPoP ", ""))
              const res = await sendChecked(
                p,
                new Request(`${issuer}/mcp`, {
                  method: "POST",
                  headers: { authorization: `${scheme}${token}` },
                }),
                counters,
              )
              expect(res.status, "a mutated access token is never accepted").not.toBe(200)
              return
            }
          }
        }),
        { numRuns: 900 },
      )
      assertLogsClean(p)
    } finally {
      await p.dispose()
    }
  })

  it("mutated refresh requests - batched (an unknown refresh token waits for a racing rotation)", async () => {
    const { p, client, tokens } = await seeded()
    try {
      const valid = {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token!,
        client_id: client.client_id,
      }
      await fc.assert(
        fc.asyncProperty(
          fc.array(mutateFields(valid, ["refresh_token", "grant_type"]), { minLength: 25, maxLength: 25 }),
          async (batch) => {
            const before = (await p.writes()).length
            const results = await Promise.all(
              batch.map(async (fields) => {
                return p.send(formOf("/token", fields))
              }),
            )
            counters.requests += results.length
            for (const res of results) {
              expect(res.status).toBeGreaterThanOrEqual(400)
              expect(res.status).toBeLessThan(500)
              counters.rejected++
            }
            expect((await p.writes()).length, "refused refreshes write nothing").toBe(before)
          },
        ),
        { numRuns: 8 },
      )
      tokensOf(p, await p.send(formRequest("/token", valid)))
      assertLogsClean(p)
    } finally {
      await p.dispose()
    }
  })

  it("a store outage - 503 temporarily_unavailable (fail closed), never another 5xx, never a secret", async () => {
    let broken = false
    const outage = (operation: OAuthError.StoreError["operation"]) =>
      Effect.fail(
        new OAuthError.StoreError({
          operation,
          description: `store ${operation} failed: ECONNREFUSED 10.0.0.1:6379`,
        }),
      )
    const flaky = flakyStore(() => broken, outage)
    const p = await makeProxy({ store: flaky })
    try {
      const s = await session(p)
      const at = await toUpstream(p, s.client)
      broken = true
      const requests: Array<() => Request> = [
        () => bearerRequest(s.tokens.access_token),
        () =>
          formRequest("/token", {
            grant_type: "refresh_token",
            refresh_token: s.tokens.refresh_token!,
            ...clientAuth(s.client).form,
          }),
        () => getRequest("/auth/callback", { state: at.state, code: "c" }, cookieHeader(at.jar)),
        () => getRequest("/authorize", { client_id: s.client.client_id }),
        () => formRequest("/revoke", { token: s.tokens.refresh_token!, client_id: s.client.client_id }),
      ]
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.constantFrom(...requests), randomRequest), async (make) => {
          const request = toRequest(make)
          if (request === undefined) return
          const res = await sendChecked(p, request, counters, { outage: true })
          expect(res.text).not.toContain("ECONNREFUSED")
        }),
        { numRuns: 300 },
      )
      for (const make of requests) {
        const res = await p.send(make())
        expect(res.status).toBe(503)
        expect(res.text).toContain("temporarily_unavailable")
      }
      broken = false
      expect(
        (await p.send(bearerRequest(s.tokens.access_token))).status,
        "service resumes after the outage",
      ).toBe(200)
      for (const line of p.logs) expect(line).not.toContain("ECONNREFUSED 10.0.0.1")
      assertLogsClean(p)
    } finally {
      await p.dispose()
    }
  })
})

/** The memory store, failing every operation while `isBroken()`. */
const flakyStore = (
  isBroken: () => boolean,
  fail: (operation: OAuthError.StoreError["operation"]) => Effect.Effect<never, OAuthError.StoreError>,
) =>
  Store.layerTest((memory) => ({
    get: (key) => Effect.suspend(() => (isBroken() ? fail("get") : memory.get(key))),
    set: (key, value, ttl) => Effect.suspend(() => (isBroken() ? fail("set") : memory.set(key, value, ttl))),
    delete: (key) => Effect.suspend(() => (isBroken() ? fail("delete") : memory.delete(key))),
    take: (key) => Effect.suspend(() => (isBroken() ? fail("take") : memory.take(key))),
    setIfAbsent: (key, value, ttl) =>
      Effect.suspend(() => (isBroken() ? fail("setIfAbsent") : memory.setIfAbsent(key, value, ttl))),
  }))

/**
 * Issue 20, finding 9: a replayed code racing the first redemption must revoke what the first
 * redemption issued, whatever the interleaving. The old grant took the code, wrote the family,
 * marked the code redeemed, then issued: a replay between the take and the mark revoked nothing,
 * and a revocation before `issue` wrote its tokens was undone by them.
 *
 * A store that pauses a redemption before its n-th store operation forces every interleaving
 * deterministically: redemption X pauses at step k, redemption Y runs to its step j (or to its
 * end), X finishes, then Y finishes — for every k and j.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import type { OAuthFailure } from "../../src/OAuthError.ts"
import {
  oauthFailure,
  type Registered,
  redeem,
  refresh,
  register,
  type SignedIn,
  signIn,
  type TokenResponse,
  tokenBody,
  withProxy,
} from "../flows/support.ts"
import { stepper } from "./stepper.ts"

const decision = (bearer: string) =>
  Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Allow" ? "allow" : `${d.status} ${d.error}`))

/** After the race: at most one redemption succeeded, and whatever it got is dead. */
const assertFirstRedemptionDead = (
  client: Registered,
  results: ReadonlyArray<Result.Result<unknown, unknown>>,
  where: string,
) =>
  Effect.gen(function* () {
    const won = results.filter(Result.isSuccess)
    assert.isAtMost(won.length, 1, `${where}: one code, one redemption`)
    for (const r of results.filter(Result.isFailure))
      assert.strictEqual((r.failure as OAuthFailure).error, "invalid_grant", where)
    for (const w of won) {
      const tokens: TokenResponse = tokenBody(w.success as never)
      assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token", `${where}: access token`)
      const refused = yield* oauthFailure(refresh(client, tokens.refresh_token!))
      assert.strictEqual(refused.error, "invalid_grant", `${where}: refresh token`)
    }
  })

/** X held at k, Y held at j (or run through), X finished, Y finished. */
const interleave = (
  s: ReturnType<typeof stepper>,
  client: Registered,
  signedIn: SignedIn,
  k: number,
  j: number | undefined,
) =>
  Effect.gen(function* () {
    const x = yield* s.startUntil(redeem(client, signedIn), k)
    const y = yield* s.startUntil(redeem(client, signedIn), j)
    yield* x.release
    const rx = yield* x.result
    yield* y.release
    const ry = yield* y.result
    yield* assertFirstRedemptionDead(client, [rx, ry], `k=${k} j=${j ?? "end"}`)
    return { xHeld: x.held, yHeld: y.held }
  })

describe("code replay race (issue 20, finding 9)", () => {
  it.effect(
    "authorization_code - every interleaving of two redemptions of one code leaves no live token",
    () => {
      const s = stepper()
      return withProxy(
        Effect.gen(function* () {
          const client = yield* register()
          let rounds = 0
          for (let k = 0; ; k++) {
            let xHeld = false
            for (let j: number | undefined; ; j = (j ?? -1) + 1) {
              const step = yield* interleave(s, client, yield* signIn(client), k, j)
              rounds++
              xHeld = step.xHeld
              if (!xHeld || (j !== undefined && !step.yHeld)) break
            }
            if (!xHeld) break
          }
          // Both requests have a dozen store steps: every point was tried.
          assert.isAbove(rounds, 50)
        }),
        { store: s.layer },
      )
    },
  )

  it.effect("authorization_code - 50 rounds of 10 concurrent redemptions of one code", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        for (let round = 0; round < 50; round++) {
          const signedIn = yield* signIn(client)
          const results = yield* Effect.all(
            Array.from({ length: 10 }, () => Effect.result(redeem(client, signedIn))),
            { concurrency: "unbounded" },
          )
          yield* assertFirstRedemptionDead(client, results, `round ${round}`)
        }
      }),
    ),
  )
})

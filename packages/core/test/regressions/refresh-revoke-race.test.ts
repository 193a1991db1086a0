/**
 * A refresh racing `/revoke` of the same refresh token: once `/revoke` answered 200, nothing of the
 * family may stay alive, whatever the interleaving. The refresh grant took the token and only
 * then wrote its rotation marker; a `/revoke` landing between the two found the token in neither
 * place, answered 200 and revoked nothing, and the refresh then issued live tokens.
 *
 * The refresh is held before each of its store operations in turn while the revocation runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import type { OAuthFailure } from "../../src/OAuthError.ts"
import { oauthFailure, refresh, revoke, session, tokenBody, withProxy } from "../flows/support.ts"
import { stepper } from "./stepper.ts"

const decision = (bearer: string) =>
  Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Allow" ? "allow" : `${d.status} ${d.error}`))

describe("refresh racing /revoke of its refresh token", () => {
  it.effect("every interleaving: after the 200 from /revoke no token of the family works", () => {
    const s = stepper()
    return withProxy(
      Effect.gen(function* () {
        let rounds = 0
        for (let k = 0; ; k++) {
          const { client, tokens } = yield* session()
          const x = yield* s.startUntil(refresh(client, tokens.refresh_token!), k)
          yield* revoke(client, tokens.refresh_token!)
          yield* x.release
          const rx = yield* x.result
          rounds++
          const where = `refresh held at step ${k}`
          assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token", where)
          if (Result.isSuccess(rx)) {
            const fresh = tokenBody(rx.success)
            assert.strictEqual(
              yield* decision(fresh.access_token),
              "401 invalid_token",
              `${where}: new access token`,
            )
            const refused = yield* oauthFailure(refresh(client, fresh.refresh_token!))
            assert.strictEqual(refused.error, "invalid_grant", `${where}: new refresh token`)
          } else {
            assert.strictEqual((rx.failure as OAuthFailure).error, "invalid_grant", where)
          }
          if (!x.held) break
        }
        assert.isAbove(rounds, 5)
      }),
      { store: s.layer },
    )
  })
})

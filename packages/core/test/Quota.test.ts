/**
 * Rate limits of issue 16 over the quota slots: `/token` per source (every request counts, refused
 * ones too) and per authenticated client, the protected resource per subject, and the per-instance
 * hints that make a repeated bucket one store operation without changing what is admitted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as TokenEndpoint from "../src/flows/TokenEndpoint.ts"
import * as Quota from "../src/Quota.ts"
import { oauthFailure, register, start, withProxy } from "./flows/support.ts"

describe("Quota", () => {
  it.effect("admitToken - every /token request from a source counts, refused ones too; 429 past it", () =>
    withProxy(
      Effect.gen(function* () {
        const bogus = () => TokenEndpoint.token({ grant_type: "bogus" }, undefined, "198.51.100.7")
        for (let i = 0; i < 2; i++)
          assert.strictEqual((yield* oauthFailure(bogus())).error, "unsupported_grant_type")
        const refused = yield* oauthFailure(bogus())
        assert.strictEqual(refused.error, "temporarily_unavailable")
        assert.match(refused.description, /token requests from this address/)
        assert.isTrue((refused.retry_after ?? 0) >= 1 && (refused.retry_after ?? 0) <= 60)
        // Another source has its own budget.
        const other = yield* oauthFailure(
          TokenEndpoint.token({ grant_type: "bogus" }, undefined, "198.51.100.8"),
        )
        assert.strictEqual(other.error, "unsupported_grant_type")
      }),
      { config: { quotas: { tokens_per_source: 2 } } },
    ),
  )

  it.effect("admitTokenClient - an authenticated client's requests count from every source", () =>
    withProxy(
      Effect.gen(function* () {
        const client = yield* register()
        const form = {
          grant_type: "authorization_code",
          client_id: client.client_id,
          resource: "https://elsewhere.example/",
        }
        for (const source of ["198.51.100.1", "198.51.100.2"])
          assert.strictEqual(
            (yield* oauthFailure(TokenEndpoint.token(form, undefined, source))).error,
            "invalid_target",
          )
        const refused = yield* oauthFailure(TokenEndpoint.token(form, undefined, "198.51.100.3"))
        assert.strictEqual(refused.error, "temporarily_unavailable")
        assert.match(refused.description, /for this client/)
      }),
      { config: { quotas: { tokens_per_client: 2 } } },
    ),
  )

  it.effect("admit - instances with their own hints over one store admit exactly the limit together", () =>
    Effect.forEach(
      fc.sample(
        fc.tuple(
          fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 30 }),
          fc.integer({ min: 1, max: 9 }),
        ),
        {
          numRuns: 40,
          seed: 16,
        },
      ),
      ([picks, n]) =>
        withProxy(
          Effect.gen(function* () {
            const limit = { name: "r", limit: n, windowSeconds: 60 }
            const instances = [Quota.makeHints(), Quota.makeHints(), Quota.makeHints()]
            let admitted = 0
            for (const pick of picks) {
              const result = yield* Effect.result(Quota.admitResource(limit, "ada", instances[pick]))
              if (result._tag === "Success") admitted++
            }
            assert.strictEqual(admitted, Math.min(n, picks.length), `${picks} / ${n}`)
            // An instance refused once knows the window is full: it refuses from memory.
            for (const pick of new Set(picks.slice(n)))
              assert.isDefined(Quota.knownFull(limit, "ada", instances[pick]!, start * 1000 + 1))
          }),
        ),
      { discard: true },
    ),
  )

  it.effect("admitResource - subjects have separate budgets; a hinted refusal carries Retry-After", () =>
    withProxy(
      Effect.gen(function* () {
        const limit = Quota.resourceLimit({
          resource_requests_per_subject: 1,
          resource_window_seconds: 60,
        } as never)
        const hints = Quota.makeHints()
        yield* Quota.admitResource(limit, "ada", hints)
        yield* Quota.admitResource(limit, "bob", hints)
        const refused = yield* oauthFailure(Quota.admitResource(limit, "ada", hints))
        assert.strictEqual(refused.error, "temporarily_unavailable")
        assert.isTrue((refused.retry_after ?? 0) >= 1)
      }),
    ),
  )
})

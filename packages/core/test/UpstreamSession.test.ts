/**
 * The upstream half of a session, in core: the freshness rule, the id_token rule (which token the
 * mode verifies and what it must say, for the callback and the check alike), and `ensureFresh`
 * over a scripted upstream token endpoint.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { InvalidToken, UpstreamError } from "../src/OAuthError.ts"
import * as ProxyConfig from "../src/ProxyConfig.ts"
import * as StorageKeys from "../src/StorageKeys.ts"
import * as Store from "../src/Store.ts"
import * as TokenStore from "../src/TokenStore.ts"
import { TestProxy } from "../src/testing/index.ts"
import { UpstreamClient, type UpstreamTokenResponse } from "../src/Upstream.ts"
import * as UpstreamSession from "../src/UpstreamSession.ts"
import type { UpstreamTokenSet } from "../src/UpstreamTokenSet.ts"

const start = 1_800_000_000
const issuer = "https://idp.test"
const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`

const settingsOf = (mode: "id_token" | "access_token", audience?: string) =>
  ProxyConfig.decode({
    issuer: "https://proxy.test",
    resource: "https://proxy.test/mcp",
    verification_mode: mode,
    upstream: { issuer, client_id: "proxy-client", ...(audience === undefined ? {} : { audience }) },
  }).pipe(Effect.orDie)

const set = (overrides: Partial<UpstreamTokenSet> = {}): UpstreamTokenSet => ({
  id: "ts",
  access_token: "upstream-at",
  id_token: jwt({ exp: start + 60 }),
  token_type: "Bearer",
  scope: ["openid", "tools"],
  expires_at: start + 3600,
  raw: {},
  ...overrides,
})

describe("UpstreamSession", () => {
  it("isFresh - good for more than the skew", () => {
    assert.isTrue(UpstreamSession.isFresh(set({ expires_at: start + 61 }), 60, start))
    assert.isFalse(UpstreamSession.isFresh(set({ expires_at: start + 60 }), 60, start))
  })

  it.effect("makeTarget - id_token mode: the id_token, aud = client id, until its own exp while live", () =>
    Effect.gen(function* () {
      const target = UpstreamSession.makeTarget(yield* settingsOf("id_token"))
      const live = target(set(), true)
      assert.deepStrictEqual(live, {
        token: set().id_token!,
        expect: { issuer, audience: "proxy-client" },
        untilOwnExp: true,
      })
      // The same JWT as access and id token (SAP CIS) changes nothing: the id_token is verified.
      const same = jwt({ exp: start + 60, scope: "x" })
      assert.strictEqual(
        (target(set({ access_token: same, id_token: same }), true) as UpstreamSession.Target).token,
        same,
      )
      assert.isFalse((target(set(), false) as UpstreamSession.Target).untilOwnExp)
      const { id_token: _, ...withoutIdToken } = set()
      const refused = target(withoutIdToken, true)
      assert.instanceOf(refused, InvalidToken)
      assert.strictEqual((refused as InvalidToken).reason, "missing_id_token")
    }),
  )

  it.effect("makeTarget - access_token mode: the access token, the configured audience only", () =>
    Effect.gen(function* () {
      const plain = UpstreamSession.makeTarget(yield* settingsOf("access_token"))(set(), true)
      assert.deepStrictEqual(plain, { token: "upstream-at", expect: { issuer }, untilOwnExp: false })
      const withAudience = UpstreamSession.makeTarget(yield* settingsOf("access_token", "api://mcp"))(
        set(),
        true,
      )
      assert.deepStrictEqual((withAudience as UpstreamSession.Target).expect, {
        issuer,
        audience: "api://mcp",
      })
    }),
  )

  it("expectation - notAfter is the token's own exp when verified until then", () => {
    const expect = { issuer, audience: "proxy-client" }
    const token = jwt({ exp: start + 60 })
    assert.deepStrictEqual(UpstreamSession.expectation({ token, expect, untilOwnExp: true }), {
      ...expect,
      notAfter: start + 60,
    })
    assert.strictEqual(UpstreamSession.expectation({ token, expect, untilOwnExp: false }), expect)
    // No readable exp: verified as of now.
    for (const other of [jwt({}), jwt({ exp: "soon" }), "not-a-jwt", "a.b.c.d"])
      assert.strictEqual(UpstreamSession.expectation({ token: other, expect, untilOwnExp: true }), expect)
  })

  describe("ensureFresh", () => {
    const run = (
      upstream: UpstreamTokenSet,
      refresh?: () => Effect.Effect<UpstreamTokenResponse, UpstreamError>,
    ) =>
      Effect.gen(function* () {
        yield* TestClock.setTime(start * 1000)
        const settings = yield* settingsOf("id_token")
        const layer = TokenStore.layer.pipe(
          Layer.provide(Store.layerMemory),
          Layer.provide(StorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)),
        )
        return yield* Effect.gen(function* () {
          const exit = yield* Effect.exit(UpstreamSession.ensureFresh(upstream))
          const stored = yield* (yield* TokenStore.TokenStore).upstreamTokenSets.get(upstream.id)
          return { exit, stored }
        }).pipe(
          Effect.provide(layer),
          Effect.provideService(ProxyConfig.Settings, settings),
          refresh === undefined
            ? (e) => e
            : Effect.provideService(
                UpstreamClient,
                UpstreamClient.of({
                  metadata: undefined as never,
                  exchangeCode: () => Effect.die("unused"),
                  revoke: () => Effect.void,
                  refresh,
                }),
              ),
        )
      })
    const down = () =>
      Effect.fail(new UpstreamError({ reason: "unreachable", retryable: true, description: "down" }))

    it.effect("a fresh set is returned as is, live, without asking the IdP", () =>
      Effect.map(
        run(set(), () => Effect.die("must not refresh")),
        ({ exit }) => assert.deepStrictEqual(exit, Exit.succeed({ set: set(), live: true })),
      ),
    )

    it.effect("due: refreshed and stored; a refresh without id_token keeps the one it has", () =>
      Effect.map(
        run(set({ expires_at: start + 30, refresh_token: "rt" }), () =>
          Effect.succeed({ access_token: "at-2", token_type: "Bearer", expires_in: 600, raw: {} }),
        ),
        ({ exit, stored }) => {
          assert.isTrue(Exit.isSuccess(exit))
          const fresh = (exit as Exit.Success<{ set: UpstreamTokenSet; live: boolean }>).value
          assert.isTrue(fresh.live)
          assert.strictEqual(fresh.set.access_token, "at-2")
          assert.strictEqual(fresh.set.id_token, set().id_token)
          assert.strictEqual(fresh.set.expires_at, start + 600)
          assert.deepStrictEqual(stored, Option.some(fresh.set))
        },
      ),
    )

    it.effect("due, refresh refused by the IdP: the session ended (401 upstream_verification)", () =>
      Effect.map(
        run(set({ expires_at: start + 30, refresh_token: "rt" }), () =>
          Effect.fail(
            new UpstreamError({ reason: "rejected", retryable: false, description: "invalid_grant" }),
          ),
        ),
        ({ exit }) => {
          assert.isTrue(
            Exit.isFailure(exit) && JSON.stringify(exit.cause).includes('"upstream_verification"'),
          )
        },
      ),
    )

    it.effect("IdP down: served while unexpired; an error (503) once expired", () =>
      Effect.gen(function* () {
        const soon = yield* run(set({ expires_at: start + 30, refresh_token: "rt" }), down)
        assert.deepStrictEqual(
          soon.exit,
          Exit.succeed({ set: set({ expires_at: start + 30, refresh_token: "rt" }), live: true }),
        )
        const gone = yield* run(set({ expires_at: start - 1, refresh_token: "rt" }), down)
        assert.isTrue(Exit.isFailure(gone.exit) && JSON.stringify(gone.exit.cause).includes("UpstreamError"))
      }),
    )

    it.effect("no refresh token or no upstream client: as is, live only until it expires", () =>
      Effect.gen(function* () {
        const noToken = yield* run(set({ expires_at: start + 30 }), () => Effect.die("must not refresh"))
        assert.deepStrictEqual(
          noToken.exit,
          Exit.succeed({ set: set({ expires_at: start + 30 }), live: true }),
        )
        const noClient = yield* run(set({ expires_at: start - 1, refresh_token: "rt" }))
        assert.deepStrictEqual(
          noClient.exit,
          Exit.succeed({ set: set({ expires_at: start - 1, refresh_token: "rt" }), live: false }),
        )
      }),
    )
  })
})

import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type * as Outcome from "../../src/flows/Outcome.ts"
import * as LoadAccessToken from "../../src/LoadAccessToken.ts"
import { TestStore, TestUpstreamClient } from "../../src/testing/index.ts"
import {
  oauthFailure,
  refresh,
  refusedWithoutChange,
  register,
  revoke,
  session,
  snapshot,
  tokenBody,
  withProxy,
} from "./support.ts"

const decision = (bearer: string) =>
  Effect.map(LoadAccessToken.check(bearer), (d) => (d._tag === "Allow" ? "allow" : `${d.status} ${d.error}`))

/** A revocation answered 200 with no body and no-store. */
const ok = (outcome: Outcome.Outcome) => {
  assert.strictEqual(outcome._tag, "Json")
  if (outcome._tag === "Json") {
    assert.strictEqual(outcome.status, 200)
    assert.deepStrictEqual(outcome.body, {})
    assert.strictEqual(outcome.headers?.["cache-control"], "no-store")
  }
}

const upstreamClient = TestUpstreamClient.TestUpstreamClient

describe("RevocationEndpoint", () => {
  it.effect(
    "revoke - a refresh token revokes its family and the upstream refresh token, never the proxy's",
    () =>
      withProxy(
        Effect.gen(function* () {
          const { client, tokens } = yield* session()
          const rotated = tokenBody(yield* refresh(client, tokens.refresh_token!))
          const upstream = yield* upstreamClient
          const issuedUpstream = yield* upstream.issuedTokens
          ok(yield* revoke(client, rotated.refresh_token!, "refresh_token"))
          assert.strictEqual(yield* decision(rotated.access_token), "401 invalid_token")
          assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token")
          assert.strictEqual(
            (yield* oauthFailure(refresh(client, rotated.refresh_token!))).error,
            "invalid_grant",
          )
          const revocations = yield* upstream.revocations
          assert.strictEqual(revocations.length, 1)
          assert.strictEqual(revocations[0]!.token_type_hint, "refresh_token")
          assert.include(issuedUpstream, revocations[0]!.token, "the upstream's own token")
          assert.match(revocations[0]!.token, /^upstream-rt-/)
          assert.notInclude([tokens.refresh_token, rotated.refresh_token], revocations[0]!.token)
          // The session's access token too, for an IdP that revokes only those (GitHub).
          assert.include(issuedUpstream, revocations[0]!.access_token ?? "", "the upstream's access token")
          assert.notMatch(revocations[0]!.access_token ?? "", /^upstream-rt-/)
          assert.deepStrictEqual(yield* (yield* TestStore.TestStore).keys("upstream:"), [])
        }),
      ),
  )

  it.effect("revoke - a refresh token with the access_token hint, or no hint, is still revoked", () =>
    withProxy(
      Effect.gen(function* () {
        for (const hint of ["access_token", undefined, "something_else"]) {
          const { client, tokens } = yield* session()
          ok(yield* revoke(client, tokens.refresh_token!, hint))
          assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token", String(hint))
        }
      }),
    ),
  )

  it.effect("revoke - a rotated refresh token still in its grace window revokes the family", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        const rotated = tokenBody(yield* refresh(client, tokens.refresh_token!))
        ok(yield* revoke(client, tokens.refresh_token!))
        assert.strictEqual(yield* decision(rotated.access_token), "401 invalid_token")
      }),
    ),
  )

  it.effect("revoke - an access token is refused at once; the rest of the session lives on", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        const other = tokenBody(yield* refresh(client, tokens.refresh_token!))
        ok(yield* revoke(client, tokens.access_token, "access_token"))
        assert.strictEqual(yield* decision(tokens.access_token), "401 invalid_token")
        assert.strictEqual(yield* decision(other.access_token), "allow")
        assert.strictEqual((yield* (yield* upstreamClient).revocations).length, 0)
        tokenBody(yield* refresh(client, other.refresh_token!))
      }),
    ),
  )

  it.effect("revoke - an unknown token is 200 and changes nothing", () =>
    withProxy(
      Effect.gen(function* () {
        const { client } = yield* session()
        for (const token of ["unknown", "a.b.c", "eyJhbGciOiJub25lIn0.e30."]) {
          const before = yield* snapshot
          ok(yield* revoke(client, token))
          assert.deepStrictEqual(yield* snapshot, before)
        }
        assert.strictEqual((yield* (yield* upstreamClient).revocations).length, 0)
      }),
    ),
  )

  it.effect("revoke - another client's tokens: 200 and nothing revoked", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        const thief = yield* register()
        for (const token of [tokens.refresh_token!, tokens.access_token]) {
          const before = yield* snapshot
          ok(yield* revoke(thief, token))
          assert.deepStrictEqual(yield* snapshot, before)
        }
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
        assert.strictEqual((yield* (yield* upstreamClient).revocations).length, 0)
        tokenBody(yield* refresh(client, tokens.refresh_token!))
      }),
    ),
  )

  it.effect("revoke - no token is invalid_request; a failed client authentication is invalid_client", () =>
    withProxy(
      Effect.gen(function* () {
        const { client, tokens } = yield* session()
        yield* refusedWithoutChange(revoke(client, ""), "invalid_request")
        const confidential = yield* register({ token_endpoint_auth_method: "client_secret_post" })
        yield* refusedWithoutChange(
          revoke({ ...confidential, client_secret: "wrong" }, tokens.refresh_token!),
          "invalid_client",
        )
        yield* refusedWithoutChange(
          revoke({ ...client, client_id: "no-such-client" }, tokens.refresh_token!),
          "invalid_client",
        )
        assert.strictEqual(yield* decision(tokens.access_token), "allow")
      }),
    ),
  )
})

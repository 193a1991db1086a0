/**
 * The `refresh_token` grant with rotation.
 *
 * Effect over ports. Each use rotates the token. The rotated token leaves a marker (its answer,
 * encrypted; written before the token is taken) so that within the grace window a retried request — the client lost the response —
 * gets the same answer, and so that concurrent uses share one rotation and one upstream refresh.
 * A use after the grace window is reuse: the whole family is revoked (OAuth 2.1 §4.3.1, RFC 9700
 * §4.14.2). The upstream token set is refreshed when near expiry (coalesced by the adapter); when
 * that fails transiently the token is given back, so the client's retry is not taken for reuse.
 * The new refresh token keeps the scope of the old one, even when the access token is narrowed.
 *
 * @see [RFC 6749 §6](https://www.rfc-editor.org/rfc/rfc6749#section-6)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { oauth } from "../../OAuthError.ts"
import { Settings } from "../../ProxyConfig.ts"
import type { Client } from "../../RegisteredClient.ts"
import * as Scopes from "../../Scopes.ts"
import { TokenStore } from "../../TokenStore.ts"
import * as UpstreamSession from "../../UpstreamSession.ts"
import type { Params } from "../AuthorizationEndpoint.ts"
import { isRevoked, revokeFamily } from "../Revocation.ts"
import { issue } from "./Issue.ts"

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

const unknownToken = () => oauth("invalid_grant", "The refresh token is invalid, expired or revoked")

const retryLater = () =>
  oauth("temporarily_unavailable", "A concurrent refresh of this token did not finish; retry")

/** A token that was already rotated: replay the answer within the grace window, else revoke. */
const rotated = (client: Client, token: string) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    // The winner of a concurrent rotation writes its marker right after taking the token; a
    // request that raced in between sees neither and looks again before giving up.
    for (let attempt = 0; attempt < 100; attempt++) {
      const marker = yield* store.rotatedRefreshTokens.get(token)
      if (Option.isNone(marker)) {
        // The rotation this request raced with failed transiently and gave the token back.
        if (Option.isSome(yield* store.refreshTokens.get(token))) return yield* retryLater()
        if (attempt >= 3) return yield* unknownToken()
        yield* Effect.sleep("25 millis")
        continue
      }
      const m = marker.value
      if (m.client_id !== client.client_id) return yield* unknownToken()
      if ((yield* nowSeconds) - m.rotated_at > config.ttl.refresh_grace) {
        yield* revokeFamily(m.family_id)
        return yield* oauth("invalid_grant", "The refresh token was already used; the session is revoked")
      }
      // A revoked family's answer holds revoked tokens: the retry is refused, not replayed (nor
      // waited for: a rotation that finds its family revoked gives no answer).
      if (yield* isRevoked(m.family_id)) return yield* unknownToken()
      if (m.response !== undefined) return m.response
      yield* Effect.sleep("50 millis")
    }
    return yield* retryLater()
  })

/**
 * @category constructors
 * @since 0.1.0
 */
export const handle = (client: Client, form: Params) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const token = form["refresh_token"]
    if (token === undefined || token === "")
      return yield* oauth("invalid_request", "refresh_token is required")

    const found = yield* store.refreshTokens.get(token)
    if (Option.isNone(found)) return yield* rotated(client, token)
    const record = found.value
    if (record.client_id !== client.client_id) return yield* unknownToken()
    if (yield* isRevoked(record.family_id)) return yield* unknownToken()
    const requested = Scopes.parse(form["scope"])
    const scope = requested.length === 0 ? record.scope : requested
    if (!Scopes.isSubset(scope, record.scope)) {
      return yield* oauth("invalid_scope", "scope exceeds what the refresh token was granted")
    }

    const now = yield* nowSeconds
    const markerTtl = `${Math.max(config.ttl.refresh_grace, record.expires_at - now, 1)} seconds` as const
    const marker = { family_id: record.family_id, client_id: client.client_id, rotated_at: now }
    // The marker goes in before the token comes out, atomically and once: a `/revoke` of this
    // token always finds one of the two (it found neither between a take and a later marker,
    // answered 200 and revoked nothing), and of concurrent uses only one rotates.
    if (!(yield* store.rotatedRefreshTokens.setIfAbsent(token, marker, markerTtl)))
      return yield* rotated(client, token)
    const taken = yield* store.refreshTokens.take(token)
    if (Option.isNone(taken)) return yield* rotated(client, token)

    const upstream = yield* store.upstreamTokenSets.get(record.upstream_token_set_id)
    if (Option.isNone(upstream)) {
      yield* revokeFamily(record.family_id)
      return yield* oauth("invalid_grant", "The upstream session no longer exists")
    }
    // A transient upstream failure is answered `temporarily_unavailable`, which tells the client
    // to retry with this same token: give it back, or the retry would count as reuse.
    const giveBack = Effect.andThen(
      store.refreshTokens.set(token, record, `${Math.max(record.expires_at - now, 1)} seconds`),
      store.rotatedRefreshTokens.delete(token),
    )
    const fresh = yield* UpstreamSession.ensureFresh(upstream.value).pipe(
      Effect.tapError((e) => (e._tag === "UpstreamError" && e.retryable ? giveBack : Effect.void)),
    )
    if (!fresh.live) return yield* oauth("invalid_grant", "The upstream session expired")
    const response = yield* issue(client, {
      family_id: record.family_id,
      scope,
      refresh_scope: record.scope,
      resource: record.resource,
      subject: record.subject,
      upstream_token_set_id: record.upstream_token_set_id,
    })
    yield* store.rotatedRefreshTokens.set(token, { ...marker, response }, markerTtl)
    return response
  })

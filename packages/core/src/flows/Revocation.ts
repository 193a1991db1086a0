/**
 * Revoking what a sign-in issued: a whole refresh-token family (on request, on code replay, on
 * refresh-token reuse) or a single access token.
 *
 * Effect over ports (Settings, TokenStore, UpstreamClient). A revoked family refuses its refresh
 * tokens, its access tokens lose their jti mappings (refused at once by every instance sharing the
 * store), and the upstream token is revoked at the IdP — the upstream's own refresh or access
 * token, never the proxy's. An IdP that cannot be reached does not stop the local revocation.
 *
 * @see [RFC 7009](https://www.rfc-editor.org/rfc/rfc7009)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import type { StoreError } from "../OAuthError.ts"
import { Settings } from "../ProxyConfig.ts"
import { TokenStore } from "../TokenStore.ts"
import { UpstreamClient } from "../Upstream.ts"

/**
 * Whether a family is revoked: its revocation mark is set, or its record is gone or says so.
 *
 * @category constructors
 * @since 0.1.0
 */
export const isRevoked = (familyId: string): Effect.Effect<boolean, StoreError, TokenStore> =>
  Effect.gen(function* () {
    const store = yield* TokenStore
    if (Option.isSome(yield* store.revokedFamilies.get(familyId))) return true
    const family = yield* store.families.get(familyId)
    return Option.isNone(family) || family.value.revoked
  })

/**
 * Revokes every token of a family and the upstream session behind it.
 *
 * The revocation mark is written first and is never undone, so a grant issuing into the family at
 * the same time either sees it when it checks after writing its tokens (and removes them), or
 * wrote them before the mark — and then before this reads the family's jtis. `upstreamTokenSetId`
 * names the upstream session when the family record may not be written yet (a code replay that
 * races the first redemption).
 *
 * @category constructors
 * @since 0.1.0
 */
export const revokeFamily = (
  familyId: string,
  upstreamTokenSetId?: string,
): Effect.Effect<void, StoreError, Settings | TokenStore> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const ttl = `${config.ttl.refresh_token} seconds` as const
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    // A one-time mark (`setIfAbsent`): a store under memory pressure never drops it; a second
    // revocation keeps the first one's time.
    yield* store.revokedFamilies.setIfAbsent(familyId, { revoked_at: now }, ttl)
    const found = yield* store.families.get(familyId)
    if (Option.isNone(found) && upstreamTokenSetId === undefined) return
    if (Option.isSome(found)) {
      const family = found.value
      yield* store.families.set(familyId, { ...family, revoked: true, jtis: [] }, ttl)
      yield* Effect.forEach(family.jtis, (jti) => store.jtiMappings.delete(jti), { discard: true })
      // The step-up union must not outlive the grant it came from (see `CallbackEndpoint`).
      if (family.subject !== undefined) yield* store.grants.delete(`${family.client_id}|${family.subject}`)
    }
    const upstreamId = Option.isSome(found) ? found.value.upstream_token_set_id : upstreamTokenSetId!
    yield* revokeUpstream(upstreamId)
    yield* Effect.logInfo("token family revoked").pipe(
      Effect.annotateLogs({ client_id: Option.isSome(found) ? found.value.client_id : "" }),
    )
  })

/** Deletes an upstream token set and revokes it at the IdP (best effort). */
const revokeUpstream = (id: string): Effect.Effect<void, StoreError, TokenStore> =>
  Effect.gen(function* () {
    const store = yield* TokenStore
    const upstreamSet = yield* store.upstreamTokenSets.get(id)
    yield* store.upstreamTokenSets.delete(id)
    const client = yield* Effect.serviceOption(UpstreamClient)
    if (Option.isNone(upstreamSet) || Option.isNone(client)) return
    const set = upstreamSet.value
    yield* client.value
      .revoke(
        set.refresh_token === undefined
          ? { token: set.access_token, token_type_hint: "access_token", access_token: set.access_token }
          : { token: set.refresh_token, token_type_hint: "refresh_token", access_token: set.access_token },
      )
      .pipe(
        Effect.catch((e) =>
          Effect.logWarning("upstream revocation failed; the local session is revoked").pipe(
            Effect.annotateLogs({ reason: e.reason }),
          ),
        ),
      )
  })

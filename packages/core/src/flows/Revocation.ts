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
import { Effect, Option } from "effect"
import type { StoreError } from "../OAuthError.ts"
import { Settings } from "../ProxyConfig.ts"
import { TokenStore } from "../TokenStore.ts"
import { UpstreamClient } from "../Upstream.ts"

/**
 * Revokes every token of a family and the upstream session behind it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const revokeFamily = (familyId: string): Effect.Effect<void, StoreError, Settings | TokenStore> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const found = yield* store.families.get(familyId)
    if (Option.isNone(found)) return
    const family = found.value
    yield* store.families.set(
      familyId,
      { ...family, revoked: true, jtis: [] },
      `${config.ttl.refresh_token} seconds`,
    )
    yield* Effect.forEach(family.jtis, (jti) => store.jtiMappings.delete(jti), { discard: true })
    const upstreamSet = yield* store.upstreamTokenSets.get(family.upstream_token_set_id)
    yield* store.upstreamTokenSets.delete(family.upstream_token_set_id)
    const client = yield* Effect.serviceOption(UpstreamClient)
    if (Option.isSome(upstreamSet) && Option.isSome(client)) {
      const set = upstreamSet.value
      yield* client.value
        .revoke(
          set.refresh_token === undefined
            ? { token: set.access_token, token_type_hint: "access_token" }
            : { token: set.refresh_token, token_type_hint: "refresh_token" },
        )
        .pipe(
          Effect.catch((e) =>
            Effect.logWarning("upstream revocation failed; the local session is revoked").pipe(
              Effect.annotateLogs({ reason: e.reason }),
            ),
          ),
        )
    }
    yield* Effect.logInfo("token family revoked").pipe(Effect.annotateLogs({ client_id: family.client_id }))
  })

/**
 * Issuing the token response of a grant: an access token (recorded in its family) and, for clients
 * allowed the `refresh_token` grant, a new refresh token of the same family.
 *
 * Effect over ports (Settings, TokenStore, ProxyKeys, Entropy, Clock). Fails with `invalid_grant`
 * (and leaves no live token) when the family is found revoked once the tokens are written.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { Entropy } from "../../Entropy.ts"
import { issueAccessToken } from "../../IssueAccessToken.ts"
import { oauth } from "../../OAuthError.ts"
import { Settings } from "../../ProxyConfig.ts"
import type { Client } from "../../RegisteredClient.ts"
import * as Scopes from "../../Scopes.ts"
import { TokenStore } from "../../TokenStore.ts"
import { isRevoked } from "../Revocation.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Grant {
  readonly family_id: string
  /** Scopes of the access token. */
  readonly scope: Scopes.ScopeSet
  /**
   * Scopes of the new refresh token; default `scope`. A refresh that narrows the access token's
   * scope keeps the refresh token's (RFC 6749 §6).
   */
  readonly refresh_scope?: Scopes.ScopeSet
  readonly resource: string
  readonly subject: string
  readonly upstream_token_set_id: string
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const issue = (client: Client, grant: Grant) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const issued = yield* issueAccessToken({
      upstream_token_set_id: grant.upstream_token_set_id,
      client_id: client.client_id,
      subject: grant.subject,
      scopes: grant.scope,
      lifetime: config.ttl.access_token,
    })
    const family = yield* store.families.get(grant.family_id)
    const familyTtl = `${config.ttl.refresh_token} seconds` as const
    yield* store.families.set(
      grant.family_id,
      Option.match(family, {
        onNone: () => ({
          family_id: grant.family_id,
          client_id: client.client_id,
          upstream_token_set_id: grant.upstream_token_set_id,
          revoked: false,
          jtis: [issued.jti],
          expires_at: now + config.ttl.refresh_token,
        }),
        // Expired jtis are dropped so the list stays bounded by the live access tokens.
        onSome: (f) => ({ ...f, jtis: [...f.jtis.slice(-20), issued.jti] }),
      }),
      familyTtl,
    )
    let refresh_token: string | undefined
    if (client.grant_types.includes("refresh_token")) {
      refresh_token = yield* (yield* Entropy).token(32)
      yield* store.refreshTokens.set(
        refresh_token,
        {
          family_id: grant.family_id,
          client_id: client.client_id,
          scope: grant.refresh_scope ?? grant.scope,
          resource: grant.resource,
          subject: grant.subject,
          upstream_token_set_id: grant.upstream_token_set_id,
          expires_at: now + config.ttl.refresh_token,
        },
        familyTtl,
      )
    }
    // Checked after the writes, never before: a revocation of the family that landed while this
    // ran (a code replay, a refresh-token reuse, `/revoke`) is seen here and the new tokens die,
    // or it lands after, and then it finds them (see `revokeFamily`).
    if (yield* isRevoked(grant.family_id)) {
      yield* store.jtiMappings.delete(issued.jti)
      if (refresh_token !== undefined) yield* store.refreshTokens.delete(refresh_token)
      // A refresh may have written the upstream session back after the revocation deleted it.
      yield* store.upstreamTokenSets.delete(grant.upstream_token_set_id)
      return yield* oauth("invalid_grant", "The grant was revoked while the tokens were issued")
    }
    const scope = Scopes.format(grant.scope)
    return {
      access_token: issued.access_token,
      token_type: "Bearer",
      expires_in: issued.expires_in,
      ...(refresh_token === undefined ? {} : { refresh_token }),
      ...(scope === "" ? {} : { scope }),
    }
  })

/**
 * Issuing a proxy access token for a stored upstream token set.
 *
 * Effect over ports (ProxyKeys, TokenStore, Entropy, Settings, Clock). The jti mapping is written
 * before the token is returned, so a token that exists always resolves.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { Entropy } from "./Entropy.ts"
import type { StoreError } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import { ProxyKeys } from "./ProxyKeys.ts"
import * as Scopes from "./Scopes.ts"
import { TokenStore } from "./TokenStore.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Grant {
  readonly upstream_token_set_id: string
  readonly client_id: string
  readonly subject: string
  readonly scopes: Scopes.ScopeSet
  /** Lifetime in seconds. */
  readonly lifetime: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Issued {
  readonly access_token: string
  readonly jti: string
  readonly expires_at: number
  readonly expires_in: number
}

/**
 * Signs an access token for `grant` and records its jti mapping.
 *
 * @category constructors
 * @since 0.1.0
 */
export const issueAccessToken = (
  grant: Grant,
): Effect.Effect<Issued, StoreError, ProxyKeys | TokenStore | Settings> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const keys = yield* ProxyKeys
    const store = yield* TokenStore
    const jti = yield* (yield* Entropy).token(16)
    const iat = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const exp = iat + grant.lifetime
    yield* store.jtiMappings.set(
      jti,
      {
        jti,
        upstream_token_set_id: grant.upstream_token_set_id,
        client_id: grant.client_id,
        expires_at: exp,
      },
      `${grant.lifetime + settings.clock_tolerance_seconds} seconds`,
    )
    const scope = Scopes.format(grant.scopes)
    const access_token = yield* keys.sign({
      iss: settings.issuer,
      aud: settings.resource,
      sub: grant.subject,
      client_id: grant.client_id,
      ...(scope === "" ? {} : { scope }),
      jti,
      iat,
      exp,
    })
    return { access_token, jti, expires_at: exp, expires_in: grant.lifetime }
  })

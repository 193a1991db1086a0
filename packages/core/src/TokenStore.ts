/**
 * The typed collections of proxy state over the one `Store` port.
 *
 * Service over the `Store` and `StorageKeys` ports. Which ids are hashed and which values are
 * encrypted is decided here, once:
 * - hashed ids: transactions (the upstream `state`), codes, refresh tokens — bearer secrets;
 * - encrypted values: upstream token sets and rotated-refresh answers — they hold tokens.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import { Client } from "./Client.ts"
import * as Collection from "./Collection.ts"
import { JtiMapping } from "./JtiMapping.ts"
import {
  AuthorizationCode,
  Family,
  RedeemedCode,
  RefreshRecord,
  RememberedConsent,
  RotatedRefresh,
  Transaction,
} from "./Session.ts"
import { StorageKeys } from "./StorageKeys.ts"
import { Store } from "./Store.ts"
import { UpstreamTokenSet } from "./UpstreamTokenSet.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface TokenStoreShape {
  readonly clients: Collection.Collection<Client>
  readonly transactions: Collection.Collection<Transaction>
  readonly codes: Collection.Collection<AuthorizationCode>
  readonly redeemedCodes: Collection.Collection<typeof RedeemedCode.Type>
  readonly refreshTokens: Collection.Collection<RefreshRecord>
  readonly rotatedRefreshTokens: Collection.Collection<RotatedRefresh>
  readonly families: Collection.Collection<Family>
  readonly jtiMappings: Collection.Collection<JtiMapping>
  readonly upstreamTokenSets: Collection.Collection<UpstreamTokenSet>
  /** Consents remembered per client and browser (consent mode `remember`). */
  readonly consents: Collection.Collection<typeof RememberedConsent.Type>
}

/**
 * @category services
 * @since 0.1.0
 */
export class TokenStore extends Context.Service<TokenStore, TokenStoreShape>()(
  "@oidc-proxy/core/TokenStore",
) {}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const store = yield* Store
  const keys = yield* StorageKeys
  const hashed = { hashKey: true } as const
  return TokenStore.of({
    clients: Collection.make(store, keys, "client", Client),
    transactions: Collection.make(store, keys, "txn", Transaction, hashed),
    codes: Collection.make(store, keys, "code", AuthorizationCode, hashed),
    redeemedCodes: Collection.make(store, keys, "code-used", RedeemedCode, hashed),
    refreshTokens: Collection.make(store, keys, "refresh", RefreshRecord, hashed),
    rotatedRefreshTokens: Collection.make(store, keys, "refresh-rotated", RotatedRefresh, {
      hashKey: true,
      encrypt: true,
    }),
    families: Collection.make(store, keys, "family", Family),
    jtiMappings: Collection.make(store, keys, "jti", JtiMapping),
    upstreamTokenSets: Collection.make(store, keys, "upstream", UpstreamTokenSet, { encrypt: true }),
    consents: Collection.make(store, keys, "consent", RememberedConsent, hashed),
  })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<TokenStore, never, Store | StorageKeys> = Layer.effect(TokenStore, make)

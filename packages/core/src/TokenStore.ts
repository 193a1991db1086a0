/**
 * The typed collections of proxy state over the one `Store` port.
 *
 * Service over the `Store` and `StorageKeys` ports. Which ids are hashed and which values are
 * encrypted is decided here, once:
 * - hashed ids: transactions (the upstream `state`), codes, refresh tokens — bearer secrets;
 * - encrypted values: upstream token sets and rotated-refresh answers — they hold tokens.
 *
 * Each instance also owns the verified-token cache (`VerifiedTokenCache`) that `loadAccessToken`
 * reads: deleting or taking a jti mapping, and writing, deleting or taking an upstream token set,
 * through this instance evicts the tokens that depended on it, so revocation wins here at once —
 * and publishes the eviction on `CacheInvalidation`, so the other instances sharing the store
 * evict too (and clear everything when their channel may have missed messages).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import { CacheInvalidation } from "./CacheInvalidation.ts"
import { CachedDocument, CachedHosts } from "./ClientIdMetadata.ts"
import * as Collection from "./Collection.ts"
import {
  AuthorizationCode,
  Family,
  RedeemedCode,
  RefreshRecord,
  RememberedConsent,
  RememberedGrant,
  RevokedFamily,
  RotatedRefresh,
  Transaction,
  UsedAssertion,
} from "./FlowRecords.ts"
import { isDecoded as isDecodedMapping, JtiMapping } from "./JtiMapping.ts"
import { Settings } from "./ProxyConfig.ts"
import { Client } from "./RegisteredClient.ts"
import { StorageKeys } from "./StorageKeys.ts"
import { Store } from "./Store.ts"
import { isDecoded, UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import * as VerifiedTokenCache from "./VerifiedTokenCache.ts"

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
  /** Revoked families, by id (see `FlowRecords.RevokedFamily`). */
  readonly revokedFamilies: Collection.Collection<typeof RevokedFamily.Type>
  readonly jtiMappings: Collection.Collection<JtiMapping>
  readonly upstreamTokenSets: Collection.Collection<UpstreamTokenSet>
  /** Consents remembered per client and browser (consent mode `remember`). */
  readonly consents: Collection.Collection<typeof RememberedConsent.Type>
  /**
   * Client ID Metadata Documents, validated, in a bounded set of slots per host (`Clients`):
   * by `<host>#<slot>`, each record naming its URL (keyed hash: hosts can be long).
   */
  readonly clientDocuments: Collection.Collection<CachedDocument>
  /** The hosts with cached documents, oldest first, under the one id `all` (`ClientLookup`). */
  readonly clientDocumentHosts: Collection.Collection<CachedHosts>
  /** `private_key_jwt` assertion ids seen, by `client_id|jti` (replay cache shared by instances). */
  readonly usedAssertions: Collection.Collection<typeof UsedAssertion.Type>
  /** The last grant per `client_id|subject`, for step-up re-authorization. */
  readonly grants: Collection.Collection<typeof RememberedGrant.Type>
  /** Quota slots (`Quota`), by `name|bucket|window|slot` (keyed hash: buckets are caller input). */
  readonly quotas: Collection.Collection<number>
  /**
   * Bearer tokens this instance verified recently (absent: nothing is cached). Kept coherent
   * with `jtiMappings` and `upstreamTokenSets` writes made through this instance.
   */
  readonly verified?: VerifiedTokenCache.VerifiedTokenCache
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
  const settings = yield* Effect.serviceOption(Settings)
  const verified = VerifiedTokenCache.make({
    ttlMillis: 1000 * (Option.isSome(settings) ? settings.value.cache_ttl_seconds : 5),
    maxEntries: Option.isSome(settings) ? settings.value.cache_max_entries : 10_000,
  })
  const member = yield* (yield* CacheInvalidation).join({
    evict: (e) => (e.kind === "jti" ? verified.evictJti(e.id) : verified.evictUpstream(e.id)),
    reset: verified.clear,
  })
  const hashed = { hashKey: true } as const
  return TokenStore.of({
    clients: Collection.make(store, keys, "client", Client),
    // Holds the upstream PKCE verifier and the consent CSRF token: encrypted as well as hashed.
    transactions: Collection.make(store, keys, "txn", Transaction, { hashKey: true, encrypt: true }),
    codes: Collection.make(store, keys, "code", AuthorizationCode, hashed),
    redeemedCodes: Collection.make(store, keys, "code-used", RedeemedCode, hashed),
    refreshTokens: Collection.make(store, keys, "refresh", RefreshRecord, hashed),
    rotatedRefreshTokens: Collection.make(store, keys, "refresh-rotated", RotatedRefresh, {
      hashKey: true,
      encrypt: true,
    }),
    families: Collection.make(store, keys, "family", Family),
    revokedFamilies: Collection.make(store, keys, "family-revoked", RevokedFamily),
    jtiMappings: evicting(
      Collection.make(store, keys, "jti", JtiMapping, { idField: "jti", decoded: isDecodedMapping }),
      verified.evictJti,
      (id) => member.publish({ kind: "jti", id }),
      false,
    ),
    upstreamTokenSets: evicting(
      Collection.make(store, keys, "upstream", UpstreamTokenSet, {
        encrypt: true,
        idField: "id",
        decoded: isDecoded,
      }),
      verified.evictUpstream,
      (id) => member.publish({ kind: "upstream", id }),
      true,
    ),
    consents: Collection.make(store, keys, "consent", RememberedConsent, hashed),
    clientDocuments: Collection.make(store, keys, "cimd", CachedDocument, hashed),
    clientDocumentHosts: Collection.make(store, keys, "cimd-hosts", CachedHosts),
    usedAssertions: Collection.make(store, keys, "assertion-jti", UsedAssertion, hashed),
    grants: Collection.make(store, keys, "grant", RememberedGrant, hashed),
    quotas: Collection.make(store, keys, "quota", Schema.Number, hashed),
    verified,
  })
})

/**
 * A collection whose removals (and, with `onSet`, writes) evict the verified tokens that depend on
 * the id: before the store is touched (a failed write never leaves a stale entry behind), and again
 * once it has answered (a verification that started in between read the old record), then tell the
 * other instances — after the write, so what they read once they evicted is the new state.
 */
const evicting = <A>(
  collection: Collection.Collection<A>,
  evict: (id: string) => void,
  publish: (id: string) => Effect.Effect<void>,
  onSet: boolean,
): Collection.Collection<A> => {
  const around = <X, E>(id: string, write: Effect.Effect<X, E>): Effect.Effect<X, E> =>
    Effect.suspend(() => {
      evict(id)
      return Effect.ensuring(
        write,
        Effect.suspend(() => {
          evict(id)
          return publish(id)
        }),
      )
    })
  return {
    ...(collection.getSync === undefined ? {} : { getSync: collection.getSync }),
    get: collection.get,
    set: onSet ? (id, value, ttl) => around(id, collection.set(id, value, ttl)) : collection.set,
    delete: (id) => around(id, collection.delete(id)),
    take: (id) => around(id, collection.take(id)),
    setIfAbsent: onSet
      ? (id, value, ttl) => around(id, collection.setIfAbsent(id, value, ttl))
      : collection.setIfAbsent,
  }
}

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<TokenStore, never, Store | StorageKeys> = Layer.effect(TokenStore, make)

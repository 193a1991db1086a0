/**
 * The collections the bearer check reads: jti mappings and upstream token sets.
 *
 * Service over the `Store` port. Later collections (clients, transactions, codes, refresh
 * records) join here the same way.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"
import * as Collection from "./Collection.ts"
import { JtiMapping } from "./JtiMapping.ts"
import { StorageKeys } from "./StorageKeys.ts"
import { Store } from "./Store.ts"
import { UpstreamTokenSet } from "./UpstreamTokenSet.ts"

/**
 * @category services
 * @since 0.1.0
 */
export class TokenStore extends Context.Service<
  TokenStore,
  {
    readonly jtiMappings: Collection.Collection<JtiMapping>
    readonly upstreamTokenSets: Collection.Collection<UpstreamTokenSet>
  }
>()("@oidc-proxy/core/TokenStore") {}

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<TokenStore, never, Store | StorageKeys> = Layer.effect(
  TokenStore,
  Effect.gen(function* () {
    const store = yield* Store
    const keys = yield* StorageKeys
    return TokenStore.of({
      jtiMappings: Collection.make(store, keys, "jti", JtiMapping),
      upstreamTokenSets: Collection.make(store, keys, "upstream", UpstreamTokenSet, { encrypt: true }),
    })
  }),
)

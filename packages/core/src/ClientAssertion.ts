/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2, §3) for clients whose Client ID
 * Metadata Document publishes keys: the assertion's `iss` and `sub` are the `client_id`, its
 * `aud` names this server (the token endpoint or the issuer), it expires within five minutes, and
 * its `jti` is used once — the replay cache is a `TokenStore` collection written with one atomic
 * set-if-absent, so it holds across concurrent requests and instances sharing the store. A mark
 * is written before the grant is looked at, so marks are counted (`Quota.admitAssertion`, per
 * source and per client per five minutes): a flood of fresh assertions from a caller's own
 * metadata document cannot fill the store with marks that are never dropped early.
 *
 * Effect over ports (Settings, TokenStore, Clock); jose verifies the signature.
 *
 * @see [RFC 7523 §3](https://www.rfc-editor.org/rfc/rfc7523#section-3)
 * @see [RFC 7521 §4.2](https://www.rfc-editor.org/rfc/rfc7521#section-4.2)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from "jose"
import * as ClientMetadataFetcher from "./ClientMetadataFetcher.ts"
import * as Endpoints from "./Endpoints.ts"
import { OAuthFailure, type StoreError } from "./OAuthError.ts"
import { defaultUpstreamAlgorithms, Settings } from "./ProxyConfig.ts"
import * as Quota from "./Quota.ts"
import type { Client } from "./RegisteredClient.ts"
import { TokenStore } from "./TokenStore.ts"

/**
 * The `client_assertion_type` of a JWT client assertion.
 *
 * @category constants
 * @since 0.1.0
 */
export const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/**
 * Longest lifetime an assertion may have left, seconds.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxLifetimeSeconds = 300

const refused = (description: string) => new OAuthFailure({ error: "invalid_client", description })

/**
 * Verifies `assertion` for `client`. Fails with `invalid_client` (signature, claims, lifetime,
 * replay), `temporarily_unavailable` (429, past the quota) or `StoreError`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const verify = (
  client: Client,
  assertion: string,
): Effect.Effect<void, OAuthFailure | StoreError, Settings | TokenStore> =>
  Effect.gen(function* () {
    if (client.jwks === undefined) return yield* refused("The client has no keys for private_key_jwt")
    const config = yield* Settings
    const endpoints = Endpoints.make(config)
    const nowMs = yield* Clock.currentTimeMillis
    const now = Math.floor(nowMs / 1000)
    const keys = createLocalJWKSet(client.jwks as unknown as JSONWebKeySet)
    const verified = yield* Effect.tryPromise({
      try: () =>
        jwtVerify(assertion, keys, {
          issuer: client.client_id,
          subject: client.client_id,
          audience: [endpoints.token, endpoints.issuer],
          algorithms: [...defaultUpstreamAlgorithms],
          currentDate: new Date(nowMs),
          clockTolerance: config.clock_tolerance_seconds,
          requiredClaims: ["exp", "jti"],
        }),
      catch: () => refused("The client assertion is invalid"),
    })
    const { exp, jti } = verified.payload
    if (typeof exp !== "number" || exp - now > maxLifetimeSeconds + config.clock_tolerance_seconds)
      return yield* refused(`The client assertion must expire within ${maxLifetimeSeconds} seconds`)
    if (typeof jti !== "string" || jti === "" || jti.length > 256)
      return yield* refused("The client assertion needs a jti")
    const store = yield* TokenStore
    const key = `${client.client_id}|${jti}`
    // A replay is refused before it is counted: one captured assertion cannot use up the quota.
    if (Option.isSome(yield* store.usedAssertions.get(key)))
      return yield* refused("The client assertion was already used")
    // The edge sets the caller's address for every OAuth endpoint.
    yield* Quota.admitAssertion(yield* ClientMetadataFetcher.Source, client.client_id, maxLifetimeSeconds)
    // The first whole second at which jose refuses the assertion (it accepts while
    // `now < exp + tolerance`, `now` in whole seconds; `exp` may be fractional).
    const closes = Math.ceil(exp + config.clock_tolerance_seconds)
    // One atomic set-if-absent, not a read then a write: of concurrent requests presenting one
    // assertion, exactly one records its jti and is accepted. The mark lives until `closes`.
    const recorded = yield* store.usedAssertions.setIfAbsent(
      key,
      { client_id: client.client_id, expires_at: exp },
      `${Math.max(1, closes - now)} seconds`,
    )
    if (!recorded) return yield* refused("The client assertion was already used")
    // Recorded only once the window had closed (a slow verification or store): the first use's
    // mark may have expired just before, so this is no proof of a first use.
    if (Math.floor((yield* Clock.currentTimeMillis) / 1000) >= closes)
      return yield* refused("The client assertion is invalid")
  })

/**
 * `/register`: dynamic client registration.
 *
 * Effect over ports (Settings, TokenStore, StorageKeys, Entropy, Clock). Nothing is stored unless
 * the whole registration is valid and within the source's quota (`Quota.admitRegistration`).
 * Confidential clients get a secret that is stored only as its keyed hash. A new client lives
 * `ttl.unused_client` until it first redeems a code (`keep`), then `ttl.client` from registration:
 * registrations no one signs in with do not pile up for a year. A registration made with the
 * configured initial access token (the operator's) has no quota and the full `ttl.client`.
 *
 * @see [RFC 7591 §3](https://www.rfc-editor.org/rfc/rfc7591#section-3)
 * @since 0.1.0
 */
import { Clock, Effect, Option, Redacted } from "effect"
import { Entropy } from "../Entropy.ts"
import { constantTimeEqual } from "../internal/constantTime.ts"
import { type OAuthFailure, oauth, type StoreError } from "../OAuthError.ts"
import { advertisedScopes, Settings } from "../ProxyConfig.ts"
import * as Quota from "../Quota.ts"
import * as RedirectUri from "../RedirectUri.ts"
import * as Client from "../RegisteredClient.ts"
import { StorageKeys } from "../StorageKeys.ts"
import { TokenStore } from "../TokenStore.ts"
import * as Outcome from "./Outcome.ts"

/**
 * Registers a client from its JSON metadata. `bearer` is the request's bearer token, checked
 * when an initial access token is configured; `source` is the caller's address, when the runtime
 * knows it.
 *
 * Fails with `OAuthFailure` (`invalid_redirect_uri`, `invalid_client_metadata`, `access_denied`
 * when registration is off, `invalid_token` for a missing or wrong initial access token,
 * `temporarily_unavailable` with `retry_after` when the source's quota is used up).
 *
 * @category constructors
 * @since 0.1.0
 */
export const register = (body: unknown, bearer: string | undefined, source?: string) =>
  Effect.gen(function* () {
    const config = yield* Settings
    if (!config.registration.enabled) {
      return yield* oauth("access_denied", "Dynamic client registration is disabled on this server")
    }
    const required = config.registration.initial_access_token
    if (
      required !== undefined &&
      (bearer === undefined || !constantTimeEqual(bearer, Redacted.value(required)))
    ) {
      return yield* oauth("invalid_token", "A valid initial access token is required to register")
    }
    const validated = Client.validateRegistration(body, {
      validScopes: config.scopes_supported.length > 0 ? advertisedScopes(config) : [],
      allowRedirectUri: RedirectUri.compilePatterns(config.registration.allowed_redirect_uris),
    })
    if ("_tag" in validated) return yield* validated
    // With an initial access token the caller is the operator: no quota, the full lifetime.
    const byOperator = required !== undefined
    if (!byOperator) yield* Quota.admitRegistration(source)

    const entropy = yield* Entropy
    const store = yield* TokenStore
    const keys = yield* StorageKeys
    const client_id = yield* entropy.token(16)
    const confidential = validated.token_endpoint_auth_method !== "none"
    const secret = confidential ? yield* entropy.token(32) : undefined
    const client: Client.Client = {
      ...validated,
      client_id,
      client_id_issued_at: Math.floor((yield* Clock.currentTimeMillis) / 1000),
      ...(secret === undefined ? {} : { client_secret_hash: yield* keys.hash(secret) }),
    }
    yield* store.clients.set(
      client_id,
      client,
      `${byOperator ? config.ttl.client : Math.min(config.ttl.unused_client, config.ttl.client)} seconds`,
    )
    return Outcome.json(
      201,
      {
        ...Client.toRegistrationResponse(client),
        ...(secret === undefined ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
      },
      { "cache-control": "no-store" },
    )
  }) as Effect.Effect<Outcome.Outcome, OAuthFailure | StoreError, Settings | TokenStore | StorageKeys>

/**
 * After a client's first code redemption: a DCR client registered with the short
 * `ttl.unused_client` lifetime is stored again to live `ttl.client` from its registration. Other
 * clients (metadata documents, clients already kept) are left as they are.
 *
 * @category constructors
 * @since 0.1.0
 */
export const keep = (client: Client.Client): Effect.Effect<void, StoreError, Settings | TokenStore> =>
  Effect.gen(function* () {
    if (client.source === "cimd" || client.first_token_at !== undefined) return
    const config = yield* Settings
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const left = client.client_id_issued_at + config.ttl.client - now
    if (left <= 0) return
    const found = yield* (yield* TokenStore).clients.get(client.client_id)
    // Only a record that is still there: a client deleted meanwhile stays deleted.
    if (Option.isNone(found) || found.value.first_token_at !== undefined) return
    yield* (yield* TokenStore).clients.set(
      client.client_id,
      { ...found.value, first_token_at: now },
      `${left} seconds`,
    )
  })

/**
 * The `authorization_code` grant: exact `redirect_uri`, PKCE S256, single use. A replayed code
 * revokes everything its first redemption issued (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3).
 *
 * Effect over ports. Validation happens before the code is claimed, so a request that fails (wrong
 * client, wrong verifier) changes nothing. Of concurrent valid redemptions, one atomic
 * `setIfAbsent` of the redeemed-code mark lets exactly one through and makes every other one a
 * replay; issuance checks the family after writing its tokens, so in whatever order a replay and
 * the first redemption interleave, the first redemption's tokens end up revoked.
 *
 * @see [RFC 6749 §4.1.3](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3)
 * @see [RFC 7636 §4.6](https://www.rfc-editor.org/rfc/rfc7636#section-4.6)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { oauth } from "../../OAuthError.ts"
import * as Pkce from "../../Pkce.ts"
import { Settings } from "../../ProxyConfig.ts"
import type { Client } from "../../RegisteredClient.ts"
import { TokenStore } from "../../TokenStore.ts"
import type { Params } from "../AuthorizationEndpoint.ts"
import { revokeFamily } from "../Revocation.ts"
import { issue } from "./Issue.ts"

/**
 * @category constructors
 * @since 0.1.0
 */
export const handle = (client: Client, form: Params) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const code = form["code"]
    const redirectUri = form["redirect_uri"]
    const verifier = form["code_verifier"]
    if (code === undefined || code === "") return yield* oauth("invalid_request", "code is required")
    if (verifier === undefined) return yield* oauth("invalid_request", "code_verifier is required (PKCE)")

    const found = yield* store.codes.get(code)
    if (Option.isNone(found)) {
      const redeemed = yield* store.redeemedCodes.get(code)
      if (Option.isSome(redeemed) && redeemed.value.client_id === client.client_id)
        return yield* replayed(redeemed.value.family_id, redeemed.value.upstream_token_set_id)
      return yield* oauth("invalid_grant", "The code is invalid, expired or already used")
    }
    const record = found.value
    if (record.client_id !== client.client_id)
      return yield* oauth("invalid_grant", "The code was issued to another client")
    if (redirectUri !== record.redirect_uri) {
      return yield* oauth("invalid_grant", "redirect_uri does not match the authorization request")
    }
    if (!(yield* Pkce.verify(verifier, record.code_challenge))) {
      return yield* oauth("invalid_grant", "code_verifier does not match the code_challenge")
    }
    // One atomic store step both elects the one redemption and leaves the mark a replay finds:
    // there is no moment at which the code is used but a replay would not see it.
    const claimed = yield* store.redeemedCodes.setIfAbsent(
      code,
      {
        family_id: record.family_id,
        client_id: client.client_id,
        upstream_token_set_id: record.upstream_token_set_id,
      },
      `${config.ttl.authorization_code} seconds`,
    )
    if (!claimed) return yield* replayed(record.family_id, record.upstream_token_set_id)
    // Taken, not just deleted: an instance of an earlier version elects by taking the code, so in
    // a mixed fleet during an upgrade the code still goes to one redemption only.
    if (Option.isNone(yield* store.codes.take(code)))
      return yield* replayed(record.family_id, record.upstream_token_set_id)
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    yield* store.families.set(
      record.family_id,
      {
        family_id: record.family_id,
        client_id: client.client_id,
        upstream_token_set_id: record.upstream_token_set_id,
        revoked: false,
        jtis: [],
        expires_at: now + config.ttl.refresh_token,
        subject: record.subject,
      },
      `${config.ttl.refresh_token} seconds`,
    )
    // `issue` checks the family once its tokens are written: a replay's revocation that landed
    // at any point of this redemption removes them.
    return yield* issue(client, {
      family_id: record.family_id,
      scope: record.scope,
      resource: record.resource,
      subject: record.subject,
      upstream_token_set_id: record.upstream_token_set_id,
    })
  })

/** A second redemption of a code: refused, and everything the first one issued is revoked. */
const replayed = (familyId: string, upstreamTokenSetId: string | undefined) =>
  Effect.andThen(
    revokeFamily(familyId, upstreamTokenSetId),
    Effect.fail(oauth("invalid_grant", "The code was already used; the tokens issued with it are revoked")),
  )

/**
 * `/revoke`: revokes a proxy refresh token (its whole family and the upstream session) or a proxy
 * access token (that token). Unknown tokens, and tokens of another client, get the same 200 so the
 * endpoint reveals nothing.
 *
 * Effect over ports.
 *
 * @see [RFC 7009 §2](https://www.rfc-editor.org/rfc/rfc7009#section-2)
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { oauth } from "../OAuthError.ts"
import { ProxyKeys } from "../ProxyKeys.ts"
import { TokenStore } from "../TokenStore.ts"
import type { Params } from "./AuthorizationEndpoint.ts"
import * as ClientAuthentication from "./ClientAuthentication.ts"
import * as Outcome from "./Outcome.ts"
import { revokeFamily } from "./Revocation.ts"

/**
 * `POST /revoke`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const revoke = (form: Params, authorization: string | undefined) =>
  Effect.gen(function* () {
    const client = yield* ClientAuthentication.authenticateRequest({
      authorization,
      client_id: form["client_id"],
      client_secret: form["client_secret"],
      client_assertion_type: form["client_assertion_type"],
      client_assertion: form["client_assertion"],
    })
    const token = form["token"]
    if (token === undefined || token === "") return yield* oauth("invalid_request", "token is required")
    const store = yield* TokenStore
    const hint = form["token_type_hint"]

    const asRefresh = Effect.gen(function* () {
      const record = yield* store.refreshTokens.get(token)
      if (Option.isSome(record) && record.value.client_id === client.client_id) {
        yield* revokeFamily(record.value.family_id)
        return true
      }
      const marker = yield* store.rotatedRefreshTokens.get(token)
      if (Option.isSome(marker) && marker.value.client_id === client.client_id) {
        yield* revokeFamily(marker.value.family_id)
        return true
      }
      return false
    })
    const asAccess = Effect.gen(function* () {
      if (token.split(".").length !== 3) return false
      const claims = yield* Effect.option((yield* ProxyKeys).verify(token))
      if (Option.isNone(claims) || claims.value.client_id !== client.client_id) return false
      yield* store.jtiMappings.delete(claims.value.jti)
      return true
    })
    if (hint === "access_token") {
      if (!(yield* asAccess)) yield* asRefresh
    } else if (!(yield* asRefresh)) yield* asAccess
    return Outcome.json(200, {}, { "cache-control": "no-store" })
  })

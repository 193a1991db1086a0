/**
 * `/token`: client authentication, then the grant named by `grant_type`, dispatched from a table.
 *
 * Effect over ports. Answers carry `Cache-Control: no-store`; errors are RFC 6749 §5.2 codes.
 *
 * @see [RFC 6749 §3.2, §5](https://www.rfc-editor.org/rfc/rfc6749#section-5)
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Effect as E } from "effect"
import type { InvalidToken, UpstreamError } from "../OAuthError.ts"
import { type OAuthFailure, oauth, type StoreError } from "../OAuthError.ts"
import { Settings } from "../ProxyConfig.ts"
import type { ProxyKeys } from "../ProxyKeys.ts"
import * as Quota from "../Quota.ts"
import type { StorageKeys } from "../StorageKeys.ts"
import type { TokenStore } from "../TokenStore.ts"
import type { Params } from "./AuthorizationEndpoint.ts"
import * as ClientAuthentication from "./ClientAuthentication.ts"
import * as AuthorizationCodeGrant from "./grants/AuthorizationCode.ts"
import * as RefreshTokenGrant from "./grants/RefreshToken.ts"
import * as Outcome from "./Outcome.ts"
import * as RegisterEndpoint from "./RegisterEndpoint.ts"

/**
 * @category models
 * @since 0.1.0
 */
export type Requirements = Settings | TokenStore | StorageKeys | ProxyKeys

const grants = {
  authorization_code: AuthorizationCodeGrant.handle,
  refresh_token: RefreshTokenGrant.handle,
} as const

/**
 * `POST /token` from `source` (the peer address, for the per-source rate limit; `undefined`: not
 * counted per source). Fails with `temporarily_unavailable` and `retry_after` (429) past the
 * source's or the client's rate limit (`Quota.admitToken`, `Quota.admitTokenClient`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const token = (
  form: Params,
  authorization: string | undefined,
  source?: string,
): Effect.Effect<Outcome.Outcome, OAuthFailure | StoreError, Requirements> =>
  E.gen(function* () {
    yield* Quota.admitToken(source)
    const grantType = form["grant_type"]
    if (grantType === undefined) return yield* oauth("invalid_request", "grant_type is required")
    if (!Object.hasOwn(grants, grantType)) {
      return yield* oauth("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
    }
    const client = yield* ClientAuthentication.authenticateRequest({
      authorization,
      client_id: form["client_id"],
      client_secret: form["client_secret"],
      client_assertion_type: form["client_assertion_type"],
      client_assertion: form["client_assertion"],
    })
    yield* Quota.admitTokenClient(client.client_id)
    if (!client.grant_types.includes(grantType as "authorization_code" | "refresh_token")) {
      return yield* oauth("unauthorized_client", `This client is not allowed the ${grantType} grant`)
    }
    // RFC 8707 §2: the proxy's tokens are for its one resource; naming another is refused, not
    // ignored (a client that thinks it holds a token for that resource would be mistaken).
    const resource = form["resource"]
    if (resource !== undefined && resource !== (yield* Settings).resource)
      return yield* oauth("invalid_target", "resource does not name this server's protected resource")
    const body = yield* grants[grantType as keyof typeof grants](client, form).pipe(
      E.catchTags({
        UpstreamError: (e: UpstreamError) =>
          E.fail(
            oauth(
              e.retryable ? "temporarily_unavailable" : "invalid_grant",
              e.retryable
                ? "The identity provider is unavailable; retry later"
                : "The upstream session ended",
            ),
          ),
        InvalidToken: (e: InvalidToken) => E.fail(oauth("invalid_grant", e.description)),
      }),
    )
    if (grantType === "authorization_code") yield* RegisterEndpoint.keep(client)
    return Outcome.json(200, body, { "cache-control": "no-store", pragma: "no-cache" })
  })

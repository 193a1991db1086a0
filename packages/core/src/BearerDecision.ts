/**
 * The bearer-check decision on a request to the protected resource: allow, or deny with the HTTP
 * status, the OAuth error code and the `WWW-Authenticate` parameters. (The `/authorize` endpoint is
 * `flows/AuthorizationEndpoint.ts`.)
 *
 * Pure core. The HTTP edge adds `resource_metadata` (it knows its own URL) and formats the header
 * with `formatChallenge`.
 *
 * @see [RFC 6750 §3](https://www.rfc-editor.org/rfc/rfc6750#section-3)
 * @see [RFC 9728 §5.1](https://www.rfc-editor.org/rfc/rfc9728#section-5.1)
 * @since 0.1.0
 */
import type { AccessToken } from "./AccessToken.ts"
import type { InvalidToken } from "./OAuthError.ts"
import * as OfflineAccess from "./OfflineAccess.ts"
import * as Scopes from "./Scopes.ts"

/**
 * Parameters of a `WWW-Authenticate: Bearer` challenge.
 *
 * @category models
 * @since 0.1.0
 */
export interface Challenge {
  readonly error?: "invalid_token" | "insufficient_scope" | "invalid_request"
  readonly error_description?: string
  readonly scope?: string
  readonly resource_metadata?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Allow {
  readonly _tag: "Allow"
  readonly accessToken: AccessToken
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Deny {
  readonly _tag: "Deny"
  readonly status: 401 | 403
  /** The OAuth error code, absent when no credentials were sent (RFC 6750 §3.1). */
  readonly error?: "invalid_token" | "insufficient_scope"
  readonly description?: string
  readonly challenge: Challenge
}

/**
 * @category models
 * @since 0.1.0
 */
export type Decision = Allow | Deny

/**
 * What the bearer check requires of a token.
 *
 * @category models
 * @since 0.1.0
 */
export interface Requirement {
  /** Scopes every request needs. */
  readonly requiredScopes: Scopes.ScopeSet
  /** The resource this server protects; the token's audience must name it. */
  readonly resource?: string
  /** The clock's time, seconds since the epoch. */
  readonly now: number
  /** Seconds a token stays acceptable past its expiry, for clock skew. Default 0. */
  readonly leeway?: number
}

/** A challenge never names `offline_access` (it grants no access). */
const challengeScope = (scopes: Scopes.ScopeSet): string | undefined => {
  const s = OfflineAccess.without(scopes)
  return s.length === 0 ? undefined : Scopes.format(s)
}

const invalid = (description: string): Deny => ({
  _tag: "Deny",
  status: 401,
  error: "invalid_token",
  description,
  challenge: { error: "invalid_token", error_description: description },
})

/**
 * What the decision reads of a token: its expiry, resource and scopes. An `AccessToken` is one; so
 * is a verified-token cache entry (`VerifiedTokenCache.Hit`), which holds copies of them so that a
 * warm check reads one object.
 *
 * @category models
 * @since 0.1.0
 */
export interface Grant {
  /** Seconds since the epoch. */
  readonly expires_at: number
  readonly resource?: string | undefined
  readonly scopes: Scopes.ScopeSet
}

/**
 * Decides whether `accessToken` may be used for a request: unexpired at `now` (with `leeway`), issued for
 * `resource`, and holding every required scope (`offline_access` excepted: it is never required
 * for access, MCP SEP-2207). A missing scope is 403 `insufficient_scope` whose
 * challenge lists the required scopes together with those already granted, so a client that
 * accumulates scopes gets there in one step (MCP SEP-2350).
 *
 * @category utils
 * @since 0.1.0
 */
export const authorize = (accessToken: AccessToken, requirement: Requirement): Decision =>
  authorizeGrant(accessToken, accessToken, requirement)

/**
 * `authorize` over `grant`, the expiry, resource and scopes of `accessToken` (equal to its own);
 * an Allow carries `accessToken`.
 *
 * @category utils
 * @since 0.1.0
 */
export const authorizeGrant = (
  grant: Grant,
  accessToken: AccessToken,
  requirement: Requirement,
): Decision => {
  if (grant.expires_at + (requirement.leeway ?? 0) <= requirement.now)
    return invalid("The access token expired")
  if (requirement.resource !== undefined && grant.resource !== requirement.resource) {
    return invalid("The access token was not issued for this resource")
  }
  // offline_access is never required for access: a token without it is not refused for lacking it.
  const required =
    requirement.requiredScopes.length === 0 ? [] : OfflineAccess.without(requirement.requiredScopes)
  if (!Scopes.isSubset(required, grant.scopes)) return insufficientScope(required, grant.scopes)
  return { _tag: "Allow", accessToken }
}

/**
 * 403 `insufficient_scope` for a request that needs `required` and holds `granted`: the
 * description names the missing scopes, the challenge's `scope` lists the required scopes together
 * with those already granted (MCP clients replace their scope with it, SEP-2350). The one place
 * both the bearer check and the gateway's MCP policy build their step-up challenge.
 *
 * @see [RFC 6750 §3.1](https://www.rfc-editor.org/rfc/rfc6750#section-3.1)
 * @category constructors
 * @since 0.1.0
 */
export const insufficientScope = (required: Scopes.ScopeSet, granted: Scopes.ScopeSet): Deny => {
  const missing = Scopes.difference(OfflineAccess.without(required), granted)
  const description = `The request requires the scope: ${Scopes.format(missing)}`
  const scope = challengeScope(Scopes.union(required, granted))
  return {
    _tag: "Deny",
    status: 403,
    error: "insufficient_scope",
    description,
    challenge: {
      error: "insufficient_scope",
      error_description: description,
      ...(scope === undefined ? {} : { scope }),
    },
  }
}

/**
 * The answer to a request without credentials: 401 with a challenge that carries no `error`
 * (RFC 6750 §3.1) and names the scopes a client should ask for.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unauthenticated = (requiredScopes: Scopes.ScopeSet): Deny => {
  const scope = challengeScope(requiredScopes)
  return { _tag: "Deny", status: 401, challenge: scope === undefined ? {} : { scope } }
}

/**
 * The answer to a refused bearer token: 401 `invalid_token` with the error's description.
 *
 * @category error handling
 * @since 0.1.0
 */
export const denyFromError = (error: InvalidToken): Deny => invalid(error.description)

const quote = (value: string): string =>
  `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\r\n]/g, " ")}"`

/**
 * Formats a challenge as the value of a `WWW-Authenticate` header.
 *
 * @category utils
 * @since 0.1.0
 */
export const formatChallenge = (challenge: Challenge): string => {
  const params: Array<string> = []
  if (challenge.resource_metadata !== undefined)
    params.push(`resource_metadata=${quote(challenge.resource_metadata)}`)
  if (challenge.scope !== undefined) params.push(`scope=${quote(challenge.scope)}`)
  if (challenge.error !== undefined) params.push(`error=${quote(challenge.error)}`)
  if (challenge.error_description !== undefined)
    params.push(`error_description=${quote(challenge.error_description)}`)
  return params.length === 0 ? "Bearer" : `Bearer ${params.join(", ")}`
}

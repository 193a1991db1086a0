/**
 * The verified identity behind a bearer token, and the pure rule that builds it.
 *
 * Pure core. `resolveAccessToken` is where FastMCP's issue #3461 cannot happen: the source of the
 * scopes is chosen by the verification mode alone, never by comparing token values.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { withFallback } from "./IdentityClaims.ts"
import type { ProxyTokenClaims } from "./ProxyTokenClaims.ts"
import * as Scopes from "./Scopes.ts"
import type { UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import type { VerificationMode } from "./VerificationMode.ts"
import { VerifiedClaims } from "./VerifiedClaims.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const AccessToken = Schema.Struct({
  /** The bearer token as presented (the proxy's JWT). */
  token: Schema.String,
  client_id: Schema.String,
  /** The upstream subject. */
  subject: Schema.String,
  /** The resolved, normalised scope set. */
  scopes: Schema.Array(Schema.String),
  /** Seconds since the epoch. */
  expires_at: Schema.Number,
  /** The resource (audience) the token was issued for. */
  resource: Schema.optionalKey(Schema.String),
  /** The verified upstream claims. */
  claims: VerifiedClaims,
})

/**
 * @category models
 * @since 0.1.0
 */
export type AccessToken = typeof AccessToken.Type

/**
 * The proxy's own token, already verified: the string and its claims.
 *
 * @category models
 * @since 0.1.0
 */
export interface VerifiedProxyToken {
  readonly token: string
  readonly claims: ProxyTokenClaims
}

/**
 * Where a request's scopes come from: the verification mode, or `reported_or_recorded` for an
 * access token verified by a userinfo/API call (see `resolveScopes`).
 *
 * @category models
 * @since 0.1.0
 */
export type ScopeRule = VerificationMode | "reported_or_recorded"

/**
 * The scope rule of a configuration: `reported_or_recorded` when the upstream access token is
 * verified by `userinfo` (an API answer has no scope claim; the provider may report the grant in a
 * header), otherwise the verification mode.
 *
 * @category utils
 * @since 0.1.0
 */
export const scopeRule = (settings: {
  readonly verification_mode: VerificationMode
  readonly upstream: { readonly verification?: string }
}): ScopeRule =>
  settings.verification_mode === "access_token" && settings.upstream.verification === "userinfo"
    ? "reported_or_recorded"
    : settings.verification_mode

/**
 * The scopes of a request, by scope rule:
 * - `id_token`: the scope set recorded for the upstream token set at authorization/refresh time,
 *   whatever the tokens' values are (the same JWT as access and id token included);
 * - `access_token`: the verified access-token claims (`scope` string, `scp` string or array) —
 *   the JWT's, or the introspection answer's;
 * - `reported_or_recorded`: the scopes the provider reported with the userinfo answer (a `scope`
 *   string the verifier set from the configured header), or, when it reported none, the recorded
 *   scope set.
 *
 * @category utils
 * @since 0.1.0
 */
export const resolveScopes = (
  rule: ScopeRule,
  upstream: UpstreamTokenSet,
  claims: VerifiedClaims,
): Scopes.ScopeSet =>
  rule === "id_token" || (rule === "reported_or_recorded" && typeof claims.scope !== "string")
    ? recorded(upstream.scope)
    : Scopes.fromClaims(claims)

/**
 * `Scopes.fromUpstream` of a recorded scope set, cheaply when its tokens are already scope tokens
 * (nearly always): the set itself when sorted without duplicates, else a sorted copy without them.
 */
const recorded = (tokens: ReadonlyArray<string>): Scopes.ScopeSet => {
  let sorted = true
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    if (!Scopes.isScopeToken(token)) return Scopes.fromUpstream(tokens)
    if (i > 0 && !(tokens[i - 1]! < token)) sorted = false
  }
  if (sorted) return tokens
  const copy = [...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return copy.filter((token, i) => i === 0 || token !== copy[i - 1])
}

/**
 * Builds the `AccessToken` of a request from the verification mode, the stored upstream token
 * set, the verified upstream claims and the verified proxy token.
 *
 * The scopes are resolved from `claims` as verified, before anything else is added. Outside
 * id_token mode the claims then take the identity members the access token lacks from the id_token
 * verified at sign-in (`IdentityClaims.withFallback`: same `iss` and `sub` only, never a scope).
 *
 * @category constructors
 * @since 0.1.0
 */
export const resolveAccessToken = (
  mode: ScopeRule,
  upstream: UpstreamTokenSet,
  claims: VerifiedClaims,
  proxy: VerifiedProxyToken,
): AccessToken => {
  const aud = proxy.claims.aud
  const resource = typeof aud === "string" ? aud : aud[0]
  return {
    token: proxy.token,
    client_id: proxy.claims.client_id,
    subject: typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : proxy.claims.sub,
    scopes: resolveScopes(mode, upstream, claims),
    expires_at: proxy.claims.exp,
    ...(resource === undefined ? {} : { resource }),
    claims: mode === "id_token" ? claims : withFallback(claims, upstream.identity),
  }
}

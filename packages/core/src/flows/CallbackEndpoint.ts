/**
 * The upstream callback: the second browser leg of a sign-in. Checks the browser binding, takes
 * the transaction once, exchanges the upstream code with the proxy's own PKCE verifier, verifies
 * the upstream token (and, in access_token mode, the id_token, whose identity members are kept as
 * a fallback: `IdentityClaims`), stores the upstream token set encrypted, and sends the client its
 * own single-use code with `state` and `iss`.
 *
 * Effect over ports (Settings, TokenStore, StorageKeys, Entropy, UpstreamClient,
 * UpstreamVerifier, Clock). Nothing is stored when the exchange or the verification fails, or when
 * the access rules refuse the identity (the client hears `access_denied`).
 *
 * @see [RFC 6749 §4.1.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2)
 * @see [RFC 9207](https://www.rfc-editor.org/rfc/rfc9207) (`iss` in authorization responses)
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { decodeJwt, type JWTPayload } from "jose"
import * as AccessRules from "../AccessRules.ts"
import * as ClientLookup from "../ClientLookup.ts"
import * as Endpoints from "../Endpoints.ts"
import { Entropy } from "../Entropy.ts"
import type { Transaction } from "../FlowRecords.ts"
import * as IdentityClaims from "../IdentityClaims.ts"
import { type OAuthFailure, oauth, type StoreError, type UpstreamError } from "../OAuthError.ts"
import * as OfflineAccess from "../OfflineAccess.ts"
import { advertisedScopes, type ProxyConfig, Settings } from "../ProxyConfig.ts"
import * as Scopes from "../Scopes.ts"
import * as TenantIssuer from "../TenantIssuer.ts"
import { TokenStore } from "../TokenStore.ts"
import { UpstreamClient } from "../Upstream.ts"
import * as UpstreamSession from "../UpstreamSession.ts"
import { fromTokenResponse, type UpstreamTokenSet } from "../UpstreamTokenSet.ts"
import { UpstreamVerifier } from "../UpstreamVerifier.ts"
import type { VerifiedClaims } from "../VerifiedClaims.ts"
import type { Params, Requirements } from "./AuthorizationEndpoint.ts"
import * as Browser from "./Browser.ts"
import * as Consent from "./Consent.ts"
import * as Outcome from "./Outcome.ts"

const errorPage = (error: "invalid_request" | "access_denied", description: string) =>
  oauth(error, description)

/**
 * Step-up (MCP SEP-2350): when no consent page is shown (`consent: off`), the scopes of a new
 * sign-in are the union of what this client was last granted for this subject and what it asks
 * for now, so a client that re-authorizes for one more scope keeps the others. Where the user
 * approves on a consent page, the code carries exactly what the page listed: the subject, and so
 * the earlier grant, is not known before the upstream sign-in, and a scope the user was not shown
 * is never granted (issue 20, finding 10; clients step up by asking for the union the 403
 * challenge lists). What is carried over is checked again against the current policy — the
 * supported scopes and the client's registration — and dropped when no longer allowed. The grant
 * is remembered (as long as a refresh token lives) and forgotten when a family of it is revoked.
 * It covers the proxy's own records — the code's scope and the scope set recorded for the
 * upstream token set, which id_token mode reads; in access_token mode the upstream token's claims
 * still decide.
 */
const rememberGrant = (transaction: Transaction, subject: string, upstreamScope: Scopes.ScopeSet) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const key = `${transaction.client_id}|${subject}`
    const previous = Consent.carriesEarlierGrant(config) ? yield* store.grants.get(key) : Option.none()
    const carried = Option.isSome(previous)
      ? yield* stillAllowed(transaction.client_id, previous.value.scope)
      : []
    const granted = {
      scope: Scopes.union(transaction.scope, carried),
      upstream_scope: Option.isSome(previous)
        ? Scopes.union(
            upstreamScope,
            previous.value.upstream_scope.filter((s) => carried.includes(s)),
          )
        : upstreamScope,
    }
    yield* store.grants.set(
      key,
      { client_id: transaction.client_id, subject, ...granted },
      `${config.ttl.refresh_token} seconds`,
    )
    return granted
  })

/**
 * The scopes of an earlier grant that the current policy still allows this client: those the
 * server offers (when it lists them) and the client registered (when it did). A client that can no
 * longer be found keeps nothing.
 */
const stillAllowed = (clientId: string, scopes: Scopes.ScopeSet) =>
  Effect.gen(function* () {
    const config = yield* Settings
    const client = yield* ClientLookup.find(clientId).pipe(
      Effect.catchTag("OAuthFailure", () => Effect.succeedNone),
    )
    if (Option.isNone(client)) return []
    const offered = config.scopes_supported.length > 0 ? advertisedScopes(config) : undefined
    const registered = client.value.scope === undefined ? undefined : Scopes.parse(client.value.scope)
    return scopes.filter(
      (s) =>
        OfflineAccess.is(s) ||
        ((offered === undefined || offered.includes(s)) &&
          (registered === undefined || registered.includes(s))),
    )
  })

/** OIDC Core §5.1: `sub` is at most 255 ASCII characters; RFC 5321 bounds an address at 320. */
const maxSubjectBytes = 255
const maxEmailBytes = 320
const utf8 = new TextEncoder()

/**
 * Why the signed-in identity is refused, if it is: a subject or email longer than the bounds above
 * (counted in UTF-8 bytes, so a non-ASCII value is bounded too). The subject is embedded in every
 * access token and both travel in identity headers on every request, so an oversized one would
 * sign in and then fail each request as "token too large"; refused here, the client hears why.
 */
const oversizedIdentity = (subject: string, email: unknown): string | undefined => {
  if (utf8.encode(subject).length > maxSubjectBytes)
    return `subject is longer than ${maxSubjectBytes} bytes (OpenID Connect Core §5.1)`
  if (typeof email === "string" && utf8.encode(email).length > maxEmailBytes)
    return `email is longer than ${maxEmailBytes} bytes`
  return undefined
}

/**
 * The claims of the id_token the code exchange returned, as the exchange checked them
 * (`UpstreamClient.exchangeCode`: `iss`, `aud`, `exp`, `nonce`). Under a network verification
 * strategy the verifier checks opaque access tokens and cannot verify an id_token (the userinfo
 * endpoint would even receive it as a bearer); an id_token received directly from the token
 * endpoint over TLS needs no signature check (OpenID Connect Core §3.1.3.7, item 6). `iss` and
 * `aud` are checked again here; `undefined` when they do not hold or the id_token does not decode.
 */
const exchangedIdTokenClaims = (idToken: string, config: ProxyConfig): JWTPayload | undefined => {
  let claims: JWTPayload
  try {
    claims = decodeJwt(idToken)
  } catch {
    return undefined
  }
  const { aud } = claims
  const clientId = config.upstream.client_id
  const forUs = aud === clientId || (Array.isArray(aud) && aud.includes(clientId))
  const template = config.upstream.issuer_template ?? config.upstream.issuer
  const issuer = TenantIssuer.resolve(template, { tid: claims["tid"] })
  return forUs && issuer !== undefined && claims.iss === issuer ? claims : undefined
}

/**
 * The id_token's claims: verified by the `UpstreamVerifier` (JWTs), else as the exchange checked
 * them; or why not (the refusal's reason, for the log).
 */
const idTokenClaims = (idToken: string) =>
  Effect.gen(function* () {
    const config = yield* Settings
    if (config.upstream.verification !== "jwt") {
      const claims = exchangedIdTokenClaims(idToken, config)
      return claims === undefined ? "issuer or audience" : claims
    }
    const issuer = config.upstream.issuer_template ?? config.upstream.issuer
    const verified = yield* Effect.result(
      (yield* UpstreamVerifier).verify(idToken, { issuer, audience: config.upstream.client_id }),
    )
    return verified._tag === "Failure" ? verified.failure.reason : verified.success
  })

/**
 * In access_token mode, the claims of the exchange's id_token verified against the client id
 * (`idTokenClaims`), or why it was refused; `undefined` in id_token mode (the id_token is then the
 * verified token itself) or without an id_token.
 */
const accessModeIdToken = (set: UpstreamTokenSet) =>
  Effect.gen(function* () {
    const config = yield* Settings
    if (config.verification_mode !== "access_token" || set.id_token === undefined) return undefined
    const claims: Readonly<Record<string, unknown>> | string = yield* idTokenClaims(set.id_token)
    return claims
  })

/**
 * The access rules (`AccessRules`) over the signed-in identity: the verified token's claims, and in
 * access_token mode also the id_token's (`idToken`), which is where providers put `email`, `hd` and
 * `groups` — the email pair from one token only (`IdentityClaims.forSignIn`). `undefined` when the
 * sign-in may go on.
 */
const accessDenial = (
  idToken: Readonly<Record<string, unknown>> | string | undefined,
  claims: VerifiedClaims,
) =>
  Effect.gen(function* () {
    const config = yield* Settings
    if (!AccessRules.isRestricted(config.access)) return undefined
    if (typeof idToken === "string")
      return {
        reason: `id_token: ${idToken}`,
        response: {
          error: "server_error",
          error_description: "The identity provider's id_token could not be verified",
        },
      }
    const reason = AccessRules.denial(config.access, IdentityClaims.forSignIn(claims, idToken))
    return reason === undefined
      ? undefined
      : {
          reason,
          response: {
            error: "access_denied",
            error_description: `This account may not sign in here: ${reason}`,
          },
        }
  })

/**
 * What the upstream token set keeps of the id_token (`IdentityClaims.fromIdToken`), when it was
 * verified. An id_token that is not verified is only logged when no access rule needs it: the
 * sign-in goes on with the access token's claims alone, as before identity claims were kept.
 */
const keptIdentity = (idToken: Readonly<Record<string, unknown>> | string | undefined) =>
  Effect.gen(function* () {
    if (idToken === undefined) return undefined
    if (typeof idToken !== "string") return IdentityClaims.fromIdToken(idToken)
    yield* Effect.logWarning("upstream id_token not verified; its identity claims are not kept").pipe(
      Effect.annotateLogs({ reason: idToken }),
    )
    return undefined
  })

/** Upstream error codes forwarded to the client as they are; anything else becomes `server_error`. */
const forwardable = new Set(["access_denied", "invalid_scope", "temporarily_unavailable", "server_error"])

/**
 * `GET {callback_path}`: the upstream's answer. Checks the binding, takes the transaction once,
 * exchanges the code, verifies the upstream token, stores the upstream token set encrypted, and
 * sends the client its own single-use code.
 *
 * @category constructors
 * @since 0.1.0
 */
export const callback = (
  params: Params,
  cookies: Readonly<Record<string, string>>,
): Effect.Effect<
  Outcome.Outcome,
  OAuthFailure | StoreError | UpstreamError,
  Requirements | UpstreamVerifier
> =>
  Effect.gen(function* () {
    const config = yield* Settings
    const store = yield* TokenStore
    const iss = Endpoints.make(config).issuer
    const transactionId = params["state"]
    if (transactionId === undefined || transactionId === "") {
      return yield* errorPage("invalid_request", "The identity provider's answer has no state")
    }
    const found = yield* store.transactions.get(transactionId)
    if (Option.isNone(found))
      return yield* errorPage("invalid_request", "This sign-in expired or was already completed")
    if (!(yield* Browser.isBound(transactionId, found.value, cookies))) {
      return yield* errorPage("access_denied", "This sign-in was started in another browser")
    }
    if (!found.value.consented) return yield* errorPage("access_denied", "The sign-in was not approved")
    const taken = yield* store.transactions.take(transactionId)
    if (Option.isNone(taken)) return yield* errorPage("invalid_request", "This sign-in was already completed")
    const transaction = taken.value
    const unbind = yield* Browser.unbind(transactionId, config)
    const toClient = (response: Record<string, string | undefined>) =>
      Outcome.redirect(
        Outcome.withParams(transaction.redirect_uri, { ...response, state: transaction.state, iss }),
        [unbind],
      )

    // RFC 9207: an IdP that says it sends `iss` must send its own issuer (mix-up defence); under a
    // templated issuer, the template with a tenant id.
    const upstreamMeta = (yield* UpstreamClient).metadata
    const callbackIss = params["iss"]
    if (
      (callbackIss !== undefined ||
        upstreamMeta["authorization_response_iss_parameter_supported"] === true) &&
      !(callbackIss !== undefined && TenantIssuer.matches(upstreamMeta.issuer, callbackIss))
    ) {
      return toClient({
        error: "server_error",
        error_description: "The identity provider's answer names another issuer",
      })
    }
    const upstreamError = params["error"]
    if (upstreamError !== undefined) {
      const error = forwardable.has(upstreamError) ? upstreamError : "server_error"
      return toClient({
        error,
        error_description: `The identity provider answered ${upstreamError.slice(0, 64).replace(/[^\w.-]/g, "")}`,
      })
    }
    const code = params["code"]
    if (code === undefined || code === "") {
      return toClient({
        error: "server_error",
        error_description: "The identity provider's answer has no code",
      })
    }
    const upstream = yield* UpstreamClient
    const exchanged = yield* Effect.result(
      upstream.exchangeCode({
        code,
        redirect_uri: Endpoints.make(config).callback,
        code_verifier: transaction.upstream_code_verifier,
        nonce: transaction.upstream_nonce,
      }),
    )
    if (exchanged._tag === "Failure") {
      const e = exchanged.failure
      yield* Effect.logWarning("upstream code exchange failed").pipe(
        Effect.annotateLogs({ reason: e.reason }),
      )
      return toClient({
        error: e.retryable ? "temporarily_unavailable" : "server_error",
        error_description: "The identity provider did not complete the sign-in",
      })
    }
    const entropy = yield* Entropy
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const set = fromTokenResponse(
      yield* entropy.token(16),
      exchanged.success,
      now,
      transaction.upstream_scope,
    )
    const verified = yield* Effect.result(UpstreamSession.verify(set, { live: false }))
    if (verified._tag === "Failure") {
      const e = verified.failure
      yield* Effect.logWarning("upstream token failed verification").pipe(
        Effect.annotateLogs({ reason: e.reason }),
      )
      return toClient({
        error: "server_error",
        error_description: "The identity provider's token could not be verified",
      })
    }
    const subject = verified.success.sub
    if (subject === undefined || subject === "") {
      return toClient({
        error: "server_error",
        error_description: "The identity provider's token has no subject",
      })
    }
    const oversized = oversizedIdentity(subject, verified.success.email)
    if (oversized !== undefined) {
      yield* Effect.logWarning("upstream identity refused").pipe(Effect.annotateLogs({ reason: oversized }))
      return toClient({ error: "server_error", error_description: `The identity provider's ${oversized}` })
    }
    const idToken = yield* accessModeIdToken(set)
    const refused = yield* accessDenial(idToken, verified.success)
    if (refused !== undefined) {
      yield* Effect.logWarning("sign-in refused by the access rules").pipe(
        Effect.annotateLogs({ reason: refused.reason }),
      )
      return toClient(refused.response)
    }
    const granted = yield* rememberGrant(transaction, subject, set.scope)
    const identity = yield* keptIdentity(idToken)
    const recorded = {
      ...set,
      scope: granted.upstream_scope,
      ...(identity === undefined ? {} : { identity }),
    }
    yield* store.upstreamTokenSets.set(recorded.id, recorded, `${config.ttl.refresh_token} seconds`)
    const clientCode = yield* entropy.token(32)
    yield* store.codes.set(
      clientCode,
      {
        client_id: transaction.client_id,
        redirect_uri: transaction.redirect_uri,
        code_challenge: transaction.code_challenge,
        scope: granted.scope,
        resource: transaction.resource,
        subject,
        upstream_token_set_id: set.id,
        family_id: yield* entropy.token(16),
        expires_at: now + config.ttl.authorization_code,
      },
      `${config.ttl.authorization_code} seconds`,
    )
    return toClient({ code: clientCode })
  })

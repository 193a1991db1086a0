/**
 * Upstream verification by a network call, for IdPs whose access tokens are opaque: the rules that
 * turn an RFC 7662 introspection answer or a userinfo/provider-API answer into `VerifiedClaims`,
 * and the cache in front of the call.
 *
 * Pure rules (`fromIntrospection`, `fromUserinfo`, `reportedScopes`) and a port implementation
 * (`make`: Settings, StorageKeys, Clock) over a `Lookup` an adapter provides (the HTTP call). The
 * cache is keyed by an HMAC of the token under the storage keys (a memory dump does not hold usable
 * tokens), keeps an acceptance at most `cache_ttl_seconds` and never past the token's `exp`, and
 * concurrent checks of one token share one call. Refusals are not cached: a token the provider
 * reports inactive is refused from the first call that sees it, at most `cache_ttl_seconds` after
 * the provider stopped accepting it. Upstream failures stay `UpstreamError` (503 at the edge).
 *
 * @see [RFC 7662 §2.2](https://www.rfc-editor.org/rfc/rfc7662#section-2.2)
 * @see [OpenID Connect Core §5.3](https://openid.net/specs/openid-connect-core-1_0.html#UserInfo)
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, type Exit, Schema, type Scope } from "effect"
import { InvalidToken, type UpstreamError } from "./OAuthError.ts"
import { Settings } from "./ProxyConfig.ts"
import { StorageKeys } from "./StorageKeys.ts"
import type { Expectation, UpstreamVerifierShape } from "./UpstreamVerifier.ts"
import { VerifiedClaims } from "./VerifiedClaims.ts"

/**
 * What the rules need besides the answer.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rules {
  /** Member holding the subject (`sub`; GitHub `id`). */
  readonly subjectClaim: string
  /** Leeway for `exp`/`nbf`, seconds. */
  readonly tolerance: number
}

const refuse = (reason: InvalidToken["reason"], description: string) =>
  new InvalidToken({ reason, source: "upstream", description })

const finite = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

/** The subject: a non-empty string, or an integer as its decimal string; `null` when malformed. */
const subjectOf = (body: Readonly<Record<string, unknown>>, claim: string): string | undefined | null => {
  const value = body[claim]
  if (value === undefined) return undefined
  if (typeof value === "string" && value !== "") return value
  if (typeof value === "number" && Number.isSafeInteger(value)) return String(value)
  return null
}

const decodeClaims = Schema.decodeUnknownOption(VerifiedClaims)

const finish = (claims: Record<string, unknown>): VerifiedClaims | InvalidToken => {
  const decoded = decodeClaims(claims)
  return decoded._tag === "Some"
    ? decoded.value
    : refuse("claims", "The upstream answer has claims of an unexpected shape")
}

/** Refusal for `exp`/`nbf` that are malformed or outside the window at `now` (seconds). */
const lifetimeProblem = (body: Readonly<Record<string, unknown>>, rules: Rules, now: number) => {
  const { exp, nbf } = body
  if (exp !== undefined && !finite(exp)) return refuse("claims", "The upstream token's exp is malformed")
  if (nbf !== undefined && !finite(nbf)) return refuse("claims", "The upstream token's nbf is malformed")
  if (exp !== undefined && exp <= now - rules.tolerance)
    return refuse("expired", "The upstream token expired")
  if (nbf !== undefined && nbf > now + rules.tolerance)
    return refuse("not_yet_valid", "The upstream token is not yet valid")
  return undefined
}

const audienceMatches = (aud: unknown, expected: string) =>
  aud === expected || (Array.isArray(aud) && aud.includes(expected))

/**
 * The claims of an RFC 7662 introspection answer, or why the token is refused: `active` must be
 * exactly `true`; `exp`/`nbf`, when present, numbers within the clock tolerance of `now`
 * (seconds); `iss`, when present, the configured issuer; `aud` must contain the expected audience
 * when one is configured, and `client_id` the expected client when one is
 * (`upstream.access_token_client_id`). The subject is read from `rules.subjectClaim`. `scope`,
 * `client_id` and any other member are kept as the answer has them (the scope rule reads `scope`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromIntrospection = (
  body: Readonly<Record<string, unknown>>,
  expect: Expectation,
  rules: Rules,
  now: number,
): VerifiedClaims | InvalidToken => {
  if (body["active"] !== true)
    return refuse("upstream_verification", "The upstream reports the token inactive")
  const lifetime = lifetimeProblem(body, rules, now)
  if (lifetime !== undefined) return lifetime
  if (body["iss"] !== undefined && body["iss"] !== expect.issuer)
    return refuse("issuer", "The upstream token has another issuer")
  if (expect.audience !== undefined && !audienceMatches(body["aud"], expect.audience))
    return refuse("audience", "The upstream token is not for the expected audience")
  if (expect.clientId !== undefined && body["client_id"] !== expect.clientId)
    return refuse("audience", "The upstream token was issued to another client")
  const sub = subjectOf(body, rules.subjectClaim)
  if (sub === null) return refuse("claims", "The upstream answer's subject is malformed")
  const { active: _active, sub: _sub, ...rest } = body
  return finish({ ...rest, iss: expect.issuer, ...(sub === undefined ? {} : { sub }) })
}

/** Registered claims a userinfo/API answer does not assert (no lifetime, audience or scopes). */
const notAsserted = new Set(["iss", "aud", "exp", "iat", "nbf", "sub", "scope", "scp"])

/**
 * The scopes a provider reported in a response header (GitHub `X-OAuth-Scopes: repo, user:email`):
 * comma- or space-separated, as one space-separated string. `undefined` when the header is absent.
 *
 * @category utils
 * @since 0.1.0
 */
export const reportedScopes = (header: string | undefined): string | undefined =>
  header === undefined
    ? undefined
    : header
        .split(/[\s,]+/)
        .filter((s) => s !== "")
        .join(" ")

/**
 * The claims of a successful userinfo/provider-API answer (the call with the token as bearer
 * succeeded, so the token is active): the subject from `rules.subjectClaim` (required), the other
 * members as the answer has them, `iss` the configured issuer, and `scope` only from what the
 * provider reported (`reportedScopes` of the configured header) — never from the body.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromUserinfo = (
  body: Readonly<Record<string, unknown>>,
  scope: string | undefined,
  expect: Expectation,
  rules: Rules,
): VerifiedClaims | InvalidToken => {
  const sub = subjectOf(body, rules.subjectClaim)
  if (sub === undefined || sub === null)
    return refuse("claims", `The upstream answer has no usable "${rules.subjectClaim}"`)
  const claims: Record<string, unknown> = {}
  for (const key of Object.keys(body)) if (!notAsserted.has(key)) claims[key] = body[key]
  return finish({ ...claims, iss: expect.issuer, sub, ...(scope === undefined ? {} : { scope }) })
}

/**
 * The network call: the token's claims (built with the rules above), or a refusal, or an
 * `UpstreamError` when the provider could not answer.
 *
 * @category models
 * @since 0.1.0
 */
export type Lookup = (
  token: string,
  expect: Expectation,
) => Effect.Effect<VerifiedClaims, InvalidToken | UpstreamError>

interface Entry {
  readonly claims: VerifiedClaims
  readonly until: number
}

/**
 * The `UpstreamVerifier` over `lookup`, cached and coalesced (see the module doc). Each call runs
 * in the layer's scope, so an interrupted first caller does not fail those waiting on it.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  lookup: Lookup,
): Effect.Effect<UpstreamVerifierShape, never, Settings | StorageKeys | Scope.Scope> =>
  Effect.gen(function* () {
    const settings = yield* Settings
    const keys = yield* StorageKeys
    const scope = yield* Effect.scope
    const ttl = settings.cache_ttl_seconds * 1000
    const maxEntries = settings.cache_max_entries
    const entries = new Map<string, Entry>()
    const untilOf = new WeakMap<VerifiedClaims, number>()
    const inflight = new Map<string, Deferred.Deferred<VerifiedClaims, InvalidToken | UpstreamError>>()

    const remember = (key: string, claims: VerifiedClaims, now: number) => {
      const until = Math.min(
        now + ttl,
        typeof claims.exp === "number" ? claims.exp * 1000 : Number.POSITIVE_INFINITY,
      )
      untilOf.set(claims, until)
      if (ttl <= 0 || maxEntries <= 0 || until <= now) return
      entries.delete(key)
      while (entries.size >= maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done === true) break
        entries.delete(oldest.value)
      }
      entries.set(key, { claims, until })
    }

    const call = (key: string, token: string, expect: Expectation) => {
      const pending = inflight.get(key)
      if (pending !== undefined) return Deferred.await(pending)
      const deferred = Deferred.makeUnsafe<VerifiedClaims, InvalidToken | UpstreamError>()
      inflight.set(key, deferred)
      const settle = (exit: Exit.Exit<VerifiedClaims, InvalidToken | UpstreamError>) =>
        Effect.sync(() => inflight.delete(key)).pipe(Effect.andThen(Deferred.done(deferred, exit)))
      const once = lookup(token, expect).pipe(
        Effect.tap((claims) => Effect.map(Clock.currentTimeMillis, (now) => remember(key, claims, now))),
        Effect.onExit(settle),
      )
      return Effect.forkIn(once, scope).pipe(Effect.andThen(Deferred.await(deferred)))
    }

    return {
      verify: (token, expect) =>
        Effect.gen(function* () {
          // The expectation is part of the key: an answer checked for one audience serves only it.
          const key = yield* keys.hash(
            `${expect.issuer}\u0000${expect.audience ?? ""}\u0000${expect.clientId ?? ""}\u0000${token}`,
          )
          const now = yield* Clock.currentTimeMillis
          const entry = entries.get(key)
          if (entry !== undefined && entry.until > now) return entry.claims
          if (entry !== undefined) entries.delete(key)
          return yield* call(key, token, expect)
        }),
      validUntil: (claims) => untilOf.get(claims),
    }
  })

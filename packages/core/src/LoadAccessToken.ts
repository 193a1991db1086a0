/**
 * The bearer pipeline: from a bearer string to a verified `AccessToken`, then the decision.
 *
 * Pure steps over Schema types, and two interpreters of that one list (design §3). Each step
 * reads its answer from memory (a port's synchronous capability: `ProxyKeys.verifySync`,
 * `Collection.getSync`, `UpstreamVerifier.verifySync`, or a pure rule), or *defers* — the
 * `Pending` check carries the step and everything found so far — and `admit`s the answer or
 * refuses with an `InvalidToken`:
 * 1. the proxy token (signature, algorithm, typ, iss, aud, exp/nbf);
 * 2. its jti mapping (`unknown_jti`, also for another client's token);
 * 3. the upstream token set (`upstream_missing`);
 * 4. freshness (`UpstreamSession.isFresh`; a refresh is I/O: `ensureFresh`);
 * 5. the target, the id_token rule (`UpstreamSession.makeTarget`, also used by the callback);
 * 6. the upstream verification of that target;
 * then `resolveAccessToken` (pure) assembles the `AccessToken`, and `check` adds `authorize`.
 *
 * `run` is the synchronous interpreter: it runs the steps while every answer is in memory and
 * stops at the first deferral (the hot path; with a memory store, `node:crypto` keys and a cached
 * JWKS a cold check is plain calls with one `Clock` read). `resume` is the Effect interpreter: it
 * performs the deferred step's I/O and continues at that step with `run`. Their equality is a
 * property test (`test/LoadAccessTokenInterpreters.test.ts`).
 *
 * A verified token is remembered in the `TokenStore`'s `VerifiedTokenCache` (keyed by the exact
 * bearer string, until the earliest of its `exp`, `cache_ttl_seconds` and the upstream token set's
 * refresh time), so a repeated bearer costs a `Map` lookup before any step; `makeCachedCheck`
 * answers it without entering the Effect runtime. Revocation through this instance evicts at once;
 * other instances sharing the store refuse within `cache_ttl_seconds`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Option } from "effect"
import { type AccessToken, resolveAccessToken, type ScopeRule, scopeRule } from "./AccessToken.ts"
import * as BearerDecision from "./BearerDecision.ts"
import type { JtiMapping } from "./JtiMapping.ts"
import { InvalidToken, type StoreError, type UpstreamError } from "./OAuthError.ts"
import { type ProxyConfig, Settings } from "./ProxyConfig.ts"
import { ProxyKeys, type ProxyKeysShape } from "./ProxyKeys.ts"
import type { ProxyTokenClaims } from "./ProxyTokenClaims.ts"
import * as Scopes from "./Scopes.ts"
import { TokenStore, type TokenStoreShape } from "./TokenStore.ts"
import * as UpstreamSession from "./UpstreamSession.ts"
import type { UpstreamTokenSet } from "./UpstreamTokenSet.ts"
import { UpstreamVerifier, type UpstreamVerifierShape } from "./UpstreamVerifier.ts"
import type { VerifiedClaims } from "./VerifiedClaims.ts"
import type { Hit, VerifiedTokenCache } from "./VerifiedTokenCache.ts"

/**
 * The services the bearer check runs over.
 *
 * @category models
 * @since 0.1.0
 */
export type Requirements = ProxyKeys | TokenStore | UpstreamVerifier | Settings

/**
 * The pipeline's ports and rules, resolved once per set of services.
 *
 * @category models
 * @since 0.1.0
 */
export interface Pipeline {
  readonly settings: ProxyConfig
  readonly keys: ProxyKeysShape
  readonly store: TokenStoreShape
  readonly verifier: UpstreamVerifierShape
  readonly cache: VerifiedTokenCache | undefined
  readonly target: (upstream: UpstreamTokenSet, live: boolean) => UpstreamSession.Target | InvalidToken
  readonly scopeRule: ScopeRule
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const makePipeline = (
  settings: ProxyConfig,
  keys: ProxyKeysShape,
  store: TokenStoreShape,
  verifier: UpstreamVerifierShape,
): Pipeline => ({
  settings,
  keys,
  store,
  verifier,
  cache: store.verified,
  target: UpstreamSession.makeTarget(settings),
  scopeRule: scopeRule(settings),
})

/**
 * A check in progress: the step to run next (`at`) and what the steps before it found. The
 * synchronous interpreter hands it back when a step needs I/O; `resume` continues from it.
 *
 * @category models
 * @since 0.1.0
 */
export class Pending {
  readonly bearer: string
  /** The time the steps run at (epoch ms); moved on after each I/O. */
  now: number
  /** `VerifiedTokenCache.epoch` before the first read: an eviction since then forbids caching. */
  readonly epoch: number
  /** Index of the next step. */
  at = 0
  // Each finding is written by its step and read only by the steps after it; all fields exist
  // from the start so every check has one object shape.
  claims: ProxyTokenClaims = undefined as never
  mapping: JtiMapping = undefined as never
  upstream: UpstreamTokenSet = undefined as never
  live = true
  target: UpstreamSession.Target = undefined as never
  verified: VerifiedClaims = undefined as never
  constructor(bearer: string, now: number, epoch: number) {
    this.bearer = bearer
    this.now = now
    this.epoch = epoch
  }
}

type Failure = InvalidToken | StoreError | UpstreamError

/** A step: its answer from memory (`undefined`: defer), the I/O that gives it, and its admission. */
interface Step<A> {
  readonly read: (p: Pipeline, s: Pending) => A | InvalidToken | undefined
  readonly perform: (
    p: Pipeline,
    s: Pending,
  ) => Effect.Effect<A | InvalidToken, Failure, Settings | TokenStore>
  /** Takes the answer into `s` (pure over the answer and the earlier steps' findings), or refuses. */
  readonly admit: (p: Pipeline, s: Pending, answer: A) => InvalidToken | undefined
}

const step = <A>(definition: Step<A>): Step<unknown> => definition as Step<unknown>

const refuse = (reason: InvalidToken["reason"], source: InvalidToken["source"], description: string) =>
  new InvalidToken({ reason, source, description })

const unknownJti = () => refuse("unknown_jti", "proxy", "The access token is unknown or was revoked")
const subjectChanged = () =>
  refuse("upstream_verification", "upstream", "The upstream session now belongs to another subject")
const upstreamMissing = () =>
  refuse("upstream_missing", "upstream", "The upstream session behind the access token no longer exists")

/** Step 4's answer when the upstream token set is fresh as stored. */
const asStored = { live: true } as const
type Freshness = typeof asStored | { readonly set: UpstreamTokenSet; readonly live: boolean }

const steps: ReadonlyArray<Step<unknown>> = [
  step<ProxyTokenClaims>({
    read: (p, s) => p.keys.verifySync?.(s.bearer, s.now),
    perform: (p, s) => p.keys.verify(s.bearer),
    admit: (_, s, claims) => {
      s.claims = claims
      return undefined
    },
  }),
  step<Option.Option<JtiMapping>>({
    read: (p, s) => p.store.jtiMappings.getSync?.(s.claims.jti, s.now),
    perform: (p, s) => p.store.jtiMappings.get(s.claims.jti),
    admit: (_, s, mapping) => {
      if (Option.isNone(mapping) || mapping.value.client_id !== s.claims.client_id) return unknownJti()
      s.mapping = mapping.value
      return undefined
    },
  }),
  step<Option.Option<UpstreamTokenSet>>({
    read: (p, s) => p.store.upstreamTokenSets.getSync?.(s.mapping.upstream_token_set_id, s.now),
    perform: (p, s) => p.store.upstreamTokenSets.get(s.mapping.upstream_token_set_id),
    admit: (_, s, upstream) => {
      if (Option.isNone(upstream)) return upstreamMissing()
      s.upstream = upstream.value
      return undefined
    },
  }),
  step<Freshness>({
    read: (p, s) =>
      UpstreamSession.isFresh(s.upstream, p.settings.upstream.refresh_skew_seconds, Math.floor(s.now / 1000))
        ? asStored
        : undefined,
    perform: (_, s) => UpstreamSession.ensureFresh(s.upstream),
    admit: (_, s, fresh) => {
      if ("set" in fresh) s.upstream = fresh.set
      s.live = fresh.live
      return undefined
    },
  }),
  step<UpstreamSession.Target>({
    read: (p, s) => p.target(s.upstream, s.live),
    perform: (p, s) => Effect.sync(() => p.target(s.upstream, s.live)),
    admit: (_, s, target) => {
      s.target = target
      return undefined
    },
  }),
  step<VerifiedClaims>({
    read: (p, s) => verifyInMemory(p.verifier, s.target, s.now),
    perform: (p, s) => p.verifier.verify(s.target.token, UpstreamSession.expectation(s.target)),
    admit: (_, s, verified) => {
      // The subject is the sign-in's: an upstream session that now speaks for another user (a
      // refresh that returned someone else's token) is not this access token's session any more.
      if (typeof verified.sub === "string" && verified.sub !== s.claims.sub) return subjectChanged()
      s.verified = verified
      return undefined
    },
  }),
]

/**
 * `verifySync` of the target as `verify` would decide it. A target verified until its own `exp`
 * is verified at min(now, exp − 1 s); an acceptance at `now` whose `exp` is at least a second away
 * is that same verification, without reading `exp` first (`expOf` parses the payload).
 */
const verifyInMemory = (
  verifier: UpstreamVerifierShape,
  target: UpstreamSession.Target,
  now: number,
): VerifiedClaims | undefined => {
  const verifySync = verifier.verifySync
  if (verifySync === undefined) return undefined
  const atNow = verifySync(target.token, target.expect, now)
  if (!target.untilOwnExp) return atNow
  const exp = atNow?.exp
  return typeof exp === "number" && now <= (exp - 1) * 1000
    ? atNow
    : verifySync(target.token, UpstreamSession.expectation(target), now)
}

/** After the last step: the `AccessToken` (pure), remembered while the upstream session is live. */
const assemble = (p: Pipeline, s: Pending): AccessToken => {
  const { claims, upstream } = s
  const accessToken = resolveAccessToken(p.scopeRule, upstream, s.verified, {
    token: s.bearer,
    claims,
  })
  if (p.cache !== undefined && s.live) {
    // Never past the token's expiry, the moment the upstream set must be refreshed, nor the end
    // of the verifier's own caching of the upstream answer (a network strategy's TTL).
    const refreshAt = (upstream.expires_at - p.settings.upstream.refresh_skew_seconds) * 1000
    const checkedUntil = p.verifier.validUntil?.(s.verified) ?? Number.POSITIVE_INFINITY
    p.cache.remember(
      s.bearer,
      accessToken,
      { jti: claims.jti, upstreamId: upstream.id },
      Math.min(claims.exp * 1000, refreshAt, checkedUntil),
      s.now,
      s.epoch,
    )
  }
  return accessToken
}

const settle = (p: Pipeline, s: Pending, answer: unknown): InvalidToken | undefined =>
  answer instanceof InvalidToken ? answer : steps[s.at]!.admit(p, s, answer)

/**
 * The synchronous interpreter: runs the steps from `s.at` while each answers from memory. The
 * `AccessToken`, the refusal, or `s` itself, stopped at the step that needs I/O.
 *
 * @category interpreters
 * @since 0.1.0
 */
export const run = (p: Pipeline, s: Pending): AccessToken | InvalidToken | Pending => {
  for (; s.at < steps.length; s.at++) {
    const answer = steps[s.at]!.read(p, s)
    if (answer === undefined) return s
    const refused = settle(p, s, answer)
    if (refused !== undefined) return refused
  }
  return assemble(p, s)
}

/**
 * The Effect interpreter: performs the I/O of the step `s` stopped at, then continues from that
 * step with `run`, until an answer. Refusals are values, as `run` gives them; store and upstream
 * failures stay in the error channel (503 at the edge).
 *
 * @category interpreters
 * @since 0.1.0
 */
export const resume = (
  p: Pipeline,
  s: Pending,
): Effect.Effect<AccessToken | InvalidToken, StoreError | UpstreamError, Settings | TokenStore> =>
  Effect.catchTag(performFrom(p, s), "InvalidToken", Effect.succeed)

const performFrom = Effect.fnUntraced(function* (p: Pipeline, s: Pending) {
  for (;;) {
    const answer = yield* steps[s.at]!.perform(p, s)
    s.now = yield* Clock.currentTimeMillis
    const refused = settle(p, s, answer)
    if (refused !== undefined) return refused
    s.at++
    const next = run(p, s)
    if (next !== s) return next as AccessToken | InvalidToken
  }
}) as (p: Pipeline, s: Pending) => Effect.Effect<AccessToken | InvalidToken, Failure, Settings | TokenStore>

/** The remembered answer, or the synchronous interpreter from the first step. */
const start = (p: Pipeline, bearer: string, now: number): AccessToken | InvalidToken | Pending =>
  p.cache?.lookup(bearer, now) ?? run(p, new Pending(bearer, now, p.cache?.epoch() ?? 0))

/** The decision over the required scopes, with the 401s without a bearer built once. */
const makeDecide = (settings: ProxyConfig) => {
  const authorize = (accessToken: AccessToken, required: Scopes.ScopeSet, nowMillis: number) =>
    BearerDecision.authorize(accessToken, {
      requiredScopes: required,
      resource: settings.resource,
      now: Math.floor(nowMillis / 1000),
      leeway: settings.clock_tolerance_seconds,
    })
  const base = Scopes.union(settings.required_scopes, [])
  const unauthenticated = BearerDecision.unauthenticated(base)
  /** A warm hit, decided on the cache entry alone (its copies of expiry, resource and scopes). */
  const authorizeHit = (hit: Hit, required: Scopes.ScopeSet, nowMillis: number) =>
    BearerDecision.authorizeGrant(hit, hit.accessToken, {
      requiredScopes: required,
      resource: settings.resource,
      now: Math.floor(nowMillis / 1000),
      leeway: settings.clock_tolerance_seconds,
    })
  return {
    requiredOf: (scopes: Scopes.ScopeSet | undefined) =>
      scopes === undefined || scopes.length === 0 ? base : Scopes.union(base, scopes),
    missing: (required: Scopes.ScopeSet) =>
      required === base ? unauthenticated : BearerDecision.unauthenticated(required),
    decide: (answer: AccessToken | InvalidToken, required: Scopes.ScopeSet, nowMillis: number) =>
      answer instanceof InvalidToken
        ? BearerDecision.denyFromError(answer)
        : authorize(answer, required, nowMillis),
    authorizeHit,
  }
}

type Check = (
  bearer: string | undefined,
  requiredScopes: Scopes.ScopeSet,
) => Effect.Effect<BearerDecision.Decision, StoreError | UpstreamError, Settings | TokenStore>

interface Built {
  readonly pipeline: Pipeline
  readonly check: Check
}

const build = (context: Context.Context<Requirements>): Built => {
  const settings = Context.get(context, Settings)
  const pipeline = makePipeline(
    settings,
    Context.get(context, ProxyKeys),
    Context.get(context, TokenStore),
    Context.get(context, UpstreamVerifier),
  )
  const d = makeDecide(settings)
  return {
    pipeline,
    check: (bearer, requiredScopes) => {
      const required = d.requiredOf(requiredScopes)
      if (bearer === undefined || bearer === "") return Effect.succeed(d.missing(required))
      return Clock.clockWith((clock) => {
        const now = clock.currentTimeMillisUnsafe()
        const hit = pipeline.cache?.hit(bearer, now)
        if (hit !== undefined) return Effect.succeed(d.authorizeHit(hit, required, now))
        const found = run(pipeline, new Pending(bearer, now, pipeline.cache?.epoch() ?? 0))
        return found instanceof Pending
          ? Effect.map(resume(pipeline, found), (answer) => d.decide(answer, required, found.now))
          : Effect.succeed(d.decide(found, required, now))
      })
    },
  }
}

/** Built once per services context (a runtime's context is the same object on every run). */
const builtIn = new WeakMap<Context.Context<Requirements>, Built>()
const builtOf = (context: Context.Context<Requirements>): Built => {
  let b = builtIn.get(context)
  if (b === undefined) {
    b = build(context)
    builtIn.set(context, b)
  }
  return b
}

/**
 * Verifies a bearer token and resolves the identity and scopes behind it.
 *
 * Fails with `InvalidToken` (401 `invalid_token`), `StoreError` or `UpstreamError` (503).
 *
 * @category constructors
 * @since 0.1.0
 */
export const loadAccessToken = (
  bearer: string,
): Effect.Effect<AccessToken, InvalidToken | StoreError | UpstreamError, Requirements> =>
  Effect.contextWith((context: Context.Context<Requirements>) =>
    Clock.clockWith((clock) => {
      const p = builtOf(context).pipeline
      const found = start(p, bearer, clock.currentTimeMillisUnsafe())
      return Effect.flatMap(found instanceof Pending ? resume(p, found) : Effect.succeed(found), (answer) =>
        answer instanceof InvalidToken ? Effect.fail(answer) : Effect.succeed(answer),
      )
    }),
  )

/**
 * The whole bearer check: no bearer → 401 without `error`; a refused token → 401
 * `invalid_token`; a missing scope → 403 `insufficient_scope`; otherwise allow. Store and upstream
 * failures stay in the error channel (503 at the edge).
 *
 * @category constructors
 * @since 0.1.0
 */
export const check = (
  bearer: string | undefined,
  requiredScopes: Scopes.ScopeSet = [],
): Effect.Effect<BearerDecision.Decision, StoreError | UpstreamError, Requirements> =>
  Effect.contextWith((context: Context.Context<Requirements>) =>
    builtOf(context).check(bearer, requiredScopes),
  )

/**
 * A synchronous bearer check that answers from the verified-token cache only: the same decision
 * `check` would reach for a remembered token (expiry, resource and scopes re-checked at
 * `nowMillis`), the 401 for a missing bearer, and `undefined` when the token is not remembered —
 * then run `check`. For HTTP edges that want to skip the Effect runtime on the hot path.
 *
 * With `ports` (the proxy keys and the upstream verifier of the same services), a token not
 * remembered also goes through the synchronous interpreter (`run`); `undefined` then means only
 * "a step needs I/O: `check` must decide".
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeCachedCheck = (
  settings: ProxyConfig,
  store: TokenStoreShape,
  ports?: { readonly keys: ProxyKeysShape; readonly verifier: UpstreamVerifierShape },
): ((
  bearer: string | undefined,
  nowMillis: number,
  requiredScopes?: Scopes.ScopeSet,
) => BearerDecision.Decision | undefined) => {
  const cache = store.verified
  const d = makeDecide(settings)
  const p = ports === undefined ? undefined : makePipeline(settings, ports.keys, store, ports.verifier)
  return (bearer, nowMillis, requiredScopes) => {
    const required = d.requiredOf(requiredScopes)
    if (bearer === undefined || bearer === "") return d.missing(required)
    const hit = cache?.hit(bearer, nowMillis)
    if (hit !== undefined) return d.authorizeHit(hit, required, nowMillis)
    if (p === undefined) return undefined
    const found = run(p, new Pending(bearer, nowMillis, cache?.epoch() ?? 0))
    return found instanceof Pending ? undefined : d.decide(found, required, nowMillis)
  }
}

/**
 * The gateway's per-subject rate limit on the protected resource: each request the bearer check
 * allowed is counted for its subject in the shared store (`Quota.admitResource`), so every
 * instance sharing the store shares one budget; past it the answer is 429 with `Retry-After`.
 *
 * Adapter over core's `Quota` and the gateway's runtime. Counted after the bearer decision (a
 * refused bearer costs no store operation). The cost on a warm request is one `setIfAbsent` (the
 * instance's `Quota.Hints` name the slot to claim); a subject this instance saw over budget is
 * refused from memory, without the store, until the window ends. A store failure admits the
 * request (the limit protects availability; the failure is counted in the store error metric).
 *
 * @see [RFC 6585 §4](https://www.rfc-editor.org/rfc/rfc6585#section-4)
 * @since 0.1.0
 */
import type { ServerResponse } from "node:http"
import { OAuthError, type ProxyConfig, Quota, type TokenStore } from "@oidc-proxy/core"
import { Respond } from "@oidc-proxy/http"
import { type Clock, Effect, type ManagedRuntime } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface ResourceQuota {
  /**
   * Counts one request of `subject`; `done` gets `undefined` (admitted) or the refusal — at once
   * when this instance already knows the window is used up.
   */
  readonly admit: (subject: string, done: (refusal: OAuthError.OAuthFailure | undefined) => void) => void
  /** `admit` as a promise. */
  readonly check: (subject: string) => Promise<OAuthError.OAuthFailure | undefined>
}

/**
 * The limit of `quotas.resource_requests_per_subject`; `undefined` when it is 0 (off).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  runtime: ManagedRuntime.ManagedRuntime<TokenStore.TokenStore, unknown>,
  quotas: ProxyConfig.ProxyConfig["quotas"],
  clock: Clock.Clock,
): ResourceQuota | undefined => {
  const limit = Quota.resourceLimit(quotas)
  if (limit.limit <= 0) return undefined
  const hints = Quota.makeHints()
  const admit: ResourceQuota["admit"] = (subject, done) => {
    const full = Quota.knownFull(limit, subject, hints, clock.currentTimeMillisUnsafe())
    if (full !== undefined) {
      done(
        OAuthError.tooManyRequests(
          `Too many requests for this user; retry in ${Math.ceil(full)} seconds`,
          full,
        ),
      )
      return
    }
    runtime.runCallback(
      Quota.admitResource(limit, subject, hints).pipe(
        Effect.match({
          onSuccess: () => undefined,
          onFailure: (e) => (e._tag === "OAuthFailure" ? e : undefined),
        }),
      ),
      { onExit: (exit) => done(exit._tag === "Success" ? exit.value : undefined) },
    )
  }
  return { admit, check: (subject) => new Promise((resolve) => admit(subject, resolve)) }
}

/**
 * The 429 answer of a refusal, written to a Node response (the gateway's fast path); the same
 * status, headers and body as `Respond.failure` gives the Fetch path.
 *
 * @category constructors
 * @since 0.1.0
 */
export const writeRefusal = (res: ServerResponse, refusal: OAuthError.OAuthFailure, requestId: string) => {
  const response = Respond.failure(refusal, "json", "")
  res.writeHead(response.status, { ...Object.fromEntries(response.headers), "x-request-id": requestId })
  res.end(JSON.stringify({ error: refusal.error, error_description: refusal.description }))
}

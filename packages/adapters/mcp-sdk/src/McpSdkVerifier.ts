/**
 * The proxy's bearer check as the MCP TypeScript SDK's `OAuthTokenVerifier`, for its
 * `requireBearerAuth` middleware: a token the proxy issued becomes the SDK's `AuthInfo`.
 *
 * Adapter over core's `Admission` (the token's size and canonical spelling, as every other edge
 * checks them) and `LoadAccessToken.check` (the whole pipeline of design §3: proxy JWT, jti
 * mapping, upstream token set, upstream verification, scope resolution, expiry and resource).
 * Errors become the SDK's error classes, because `requireBearerAuth` decides the HTTP answer by
 * `instanceof` (checked against `@modelcontextprotocol/sdk` 1.32.2, `middleware/bearerAuth.js`):
 *
 * | proxy outcome                             | thrown                   | SDK answer |
 * |-------------------------------------------|--------------------------|------------|
 * | 401 `invalid_token` (any reason)          | `InvalidTokenError`      | 401 + `WWW-Authenticate: Bearer error="invalid_token", …, resource_metadata=…` |
 * | 403 `insufficient_scope` (config scopes)  | `InsufficientScopeError` | 403 + challenge |
 * | `StoreError` / `UpstreamError` (outage)   | `ServerError`            | 500 `server_error`, no challenge |
 * | a defect                                  | `ServerError`            | 500 `server_error`, generic text |
 *
 * An outage must not look like a bad token: a 401 would make the MCP client throw its tokens away
 * and start a new authorization, which cannot succeed while the store or IdP is down. The SDK has
 * no 503 path — `TemporarilyUnavailableError` is an `OAuthError` and would be answered 400, which
 * reads as the client's fault — so `ServerError` (500, no `WWW-Authenticate`) is the closest the
 * SDK allows. The proxy's own handler answers 503 `temporarily_unavailable` for the same failures.
 *
 * @since 0.1.0
 */
import {
  InsufficientScopeError,
  InvalidTokenError,
  ServerError,
} from "@modelcontextprotocol/sdk/server/auth/errors.js"
import type { OAuthTokenVerifier } from "@modelcontextprotocol/sdk/server/auth/provider.js"
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js"
import { type AccessToken, Admission, LoadAccessToken, type OAuthError, ProxyConfig } from "@oidc-proxy/core"
import { Cause, Context, Effect, type Layer, ManagedRuntime } from "effect"

/**
 * What the verifier puts into `AuthInfo.extra`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Extra {
  /** The upstream subject (`sub`) of the user behind the token. */
  readonly subject: string
  /** The verified upstream claims (`email`, `name`, …). */
  readonly claims: AccessToken.AccessToken["claims"]
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Scopes every token must hold, on top of the configuration's `required_scopes`; a token
   * without them is refused with 403 `insufficient_scope`. Usually given to `requireBearerAuth`'s
   * `requiredScopes` instead, which also names them in its challenges. Default none.
   */
  readonly requiredScopes?: ReadonlyArray<string>
}

/**
 * The SDK's view of a verified token: `scopes` are the proxy's resolved scopes (by verification
 * mode), `expiresAt` the proxy token's expiry in seconds, `resource` its audience.
 *
 * @category constructors
 * @since 0.1.0
 */
export const toAuthInfo = (token: AccessToken.AccessToken): AuthInfo => ({
  token: token.token,
  clientId: token.client_id,
  scopes: [...token.scopes],
  expiresAt: token.expires_at,
  ...(token.resource === undefined ? {} : { resource: new URL(token.resource) }),
  extra: { subject: token.subject, claims: token.claims } satisfies Extra,
})

/** Generic text only: a 5xx never explains the backend (design §5). */
const unavailable = "The authorization server is temporarily unavailable"

/** Store and upstream failures: an outage, not a verdict on the token. */
const outage = (_: OAuthError.StoreError | OAuthError.UpstreamError): Error => new ServerError(unavailable)

/**
 * Builds the verifier over the services in context; every call runs `LoadAccessToken.check` there.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: Options = {},
): Effect.Effect<OAuthTokenVerifier, never, LoadAccessToken.Requirements> =>
  Effect.gen(function* () {
    // The whole context, not only the declared requirements: `check` refreshes upstream through
    // `UpstreamClient` when the layer provides one.
    const context = yield* Effect.context<LoadAccessToken.Requirements>()
    const run = Effect.runPromiseWith(context)
    const admission = Admission.make(Context.get(context, ProxyConfig.Settings))
    const required = [...(options.requiredScopes ?? [])]
    const verify = (token: string): Effect.Effect<AuthInfo | Error, never, LoadAccessToken.Requirements> => {
      const admitted = admission.token(token)
      if (typeof admitted !== "string")
        return Effect.succeed(new InvalidTokenError(admitted.description ?? "The access token is not valid"))
      return LoadAccessToken.check(admitted, required).pipe(
        Effect.map((decision): AuthInfo | Error => {
          if (decision._tag === "Allow") return toAuthInfo(decision.accessToken)
          const description = decision.description ?? "The access token is not valid"
          return decision.status === 403
            ? new InsufficientScopeError(description)
            : new InvalidTokenError(description)
        }),
        Effect.catch((e) => Effect.succeed(outage(e))),
        Effect.catchCause((cause) =>
          Effect.logError("token verification failed with a defect").pipe(
            Effect.annotateLogs({ defect: Cause.pretty(cause).split("\n")[0]?.slice(0, 200) ?? "" }),
            Effect.as(new ServerError("Internal Server Error")),
          ),
        ),
      )
    }
    return {
      verifyAccessToken: async (token: string): Promise<AuthInfo> => {
        const result = await run(verify(token))
        if (result instanceof Error) throw result
        return result
      },
    }
  })

/**
 * A verifier with its own runtime built from `layer`. Use it when the proxy's routes run
 * elsewhere over a shared store (SQLite, Redis); with the memory store, build the routes and the
 * verifier together (`McpSdkProxy.fromLayer`) so they share one store.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromLayer = async <E>(
  layer: Layer.Layer<LoadAccessToken.Requirements, E>,
  options: Options = {},
): Promise<{ readonly verifier: OAuthTokenVerifier; readonly dispose: () => Promise<void> }> => {
  const runtime = ManagedRuntime.make(layer)
  const verifier = await runtime.runPromise(make(options))
  return { verifier, dispose: () => runtime.dispose() }
}

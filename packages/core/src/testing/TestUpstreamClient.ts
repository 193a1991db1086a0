/**
 * A scripted upstream token endpoint: the core's `UpstreamClient` port backed by a `TestUpstream`,
 * with no network.
 *
 * Testing. The test says which upstream codes exist and what each yields (claims, the same JWT as
 * access and id token, a `scope` member, or an error); refreshes issue new tokens signed with the
 * upstream key (with or without a new id_token) and are counted; revocations are recorded. Token
 * lifetimes are read from `Clock`, so `TestClock` drives expiry.
 *
 * @since 0.1.0
 */
import { Clock, Context, type Duration, Effect, Layer } from "effect"
import type { JWTPayload } from "jose"
import { UpstreamError } from "../OAuthError.ts"
import { UpstreamClient, type UpstreamMetadata, type UpstreamTokenResponse } from "../Upstream.ts"
import type { TestUpstream } from "./TestUpstream.ts"

/**
 * What the upstream answers for one authorization code.
 *
 * @category models
 * @since 0.1.0
 */
export interface CodeScript {
  /** Claims of the id_token and the access token; `sub` defaults to `user-1`. */
  readonly claims?: JWTPayload
  /** Extra claims of the access token only (e.g. `scope`, `scp`). */
  readonly accessClaims?: JWTPayload
  /** Extra claims of the id_token only (e.g. `email`, which Auth0 puts in no access token). */
  readonly idClaims?: JWTPayload
  /** The `scope` member of the token response; absent when not given. */
  readonly scope?: string
  /** Return one JWT as both access token and id_token (as SAP Cloud Identity Services does). */
  readonly sameJwt?: boolean
  /** Return an id_token. Default `true`. */
  readonly idToken?: boolean
  /** Return a refresh token. Default `true`. */
  readonly refreshToken?: boolean
  /** `expires_in` of the access token, seconds. Default 3600. */
  readonly expiresIn?: number
  /** Lifetime of the id_token, seconds. Default `expiresIn`. */
  readonly idTokenLifetime?: number
  /** Fail the exchange with this error instead. */
  readonly error?: UpstreamError
}

/**
 * What the upstream answers to refreshes.
 *
 * @category models
 * @since 0.1.0
 */
export interface RefreshScript {
  /** Return a new id_token. Default `true`. */
  readonly idToken?: boolean
  /** Rotate the refresh token (the old one stops working). Default `true`. */
  readonly rotate?: boolean
  /** The `scope` member of the response; absent when not given. */
  readonly scope?: string
  /** `expires_in` of the new access token, seconds. Default 3600. */
  readonly expiresIn?: number
  /** Time the upstream takes to answer (sleeps on `Clock`). */
  readonly latency?: Duration.Input
  /** Fail every refresh with this error instead. */
  readonly error?: UpstreamError
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The codes the upstream accepts (each once). More can be added with `setCode`. */
  readonly codes?: Readonly<Record<string, CodeScript>>
  readonly refresh?: RefreshScript
  /** `aud` of the upstream access tokens. Default `api://mcp`. */
  readonly accessTokenAudience?: string
  /** `scopes_supported` of the discovery document; `null` leaves it out. */
  readonly scopesSupported?: ReadonlyArray<string> | null
  /** More discovery members (e.g. `authorization_response_iss_parameter_supported`). */
  readonly metadata?: Readonly<Record<string, unknown>>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ExchangeCall {
  readonly code: string
  readonly redirect_uri: string
  readonly code_verifier: string
  /** The nonce the proxy expects in the id_token (the one it sent upstream), if any. */
  readonly nonce?: string | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RefreshCall {
  readonly refresh_token: string
  readonly scope?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RevokeCall {
  readonly token: string
  readonly token_type_hint?: "access_token" | "refresh_token"
  readonly access_token?: string
}

/**
 * The test's handle on the scripted upstream.
 *
 * @category models
 * @since 0.1.0
 */
export interface TestUpstreamClientShape {
  readonly upstream: TestUpstream
  readonly metadata: UpstreamMetadata
  /** Adds (or replaces) an authorization code the upstream will accept once. */
  readonly setCode: (code: string, script?: CodeScript) => Effect.Effect<void>
  /** Changes how later refreshes are answered. */
  readonly setRefresh: (script: RefreshScript) => Effect.Effect<void>
  readonly exchanges: Effect.Effect<ReadonlyArray<ExchangeCall>>
  readonly refreshes: Effect.Effect<ReadonlyArray<RefreshCall>>
  readonly revocations: Effect.Effect<ReadonlyArray<RevokeCall>>
  /** Every access, id and refresh token the upstream has handed out. */
  readonly issuedTokens: Effect.Effect<ReadonlyArray<string>>
}

/**
 * @category services
 * @since 0.1.0
 */
export class TestUpstreamClient extends Context.Service<TestUpstreamClient, TestUpstreamClientShape>()(
  "@oidc-proxy/core/testing/TestUpstreamClient",
) {}

/**
 * An `invalid_grant` answer of the upstream token endpoint.
 *
 * @category constructors
 * @since 0.1.0
 */
export const rejected = (description = "invalid_grant"): UpstreamError =>
  new UpstreamError({ reason: "rejected", retryable: false, description })

/**
 * The upstream cannot be reached.
 *
 * @category constructors
 * @since 0.1.0
 */
export const unreachable = (description = "connection refused"): UpstreamError =>
  new UpstreamError({ reason: "unreachable", retryable: true, description })

interface Session {
  readonly claims: JWTPayload
  readonly accessClaims: JWTPayload
  readonly idClaims: JWTPayload
}

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (upstream: TestUpstream, options: Options = {}) =>
  Effect.sync(() => {
    const codes = new Map(Object.entries(options.codes ?? {}))
    let refreshScript: RefreshScript = options.refresh ?? {}
    const sessions = new Map<string, Session>()
    const exchanges: Array<ExchangeCall> = []
    const refreshes: Array<RefreshCall> = []
    const revocations: Array<RevokeCall> = []
    const issued: Array<string> = []
    let counter = 0
    const audience = options.accessTokenAudience ?? "api://mcp"
    const metadata: UpstreamMetadata = {
      ...options.metadata,
      issuer: upstream.issuer,
      authorization_endpoint: `${upstream.issuer}/authorize`,
      token_endpoint: `${upstream.issuer}/token`,
      jwks_uri: `${upstream.issuer}/jwks`,
      revocation_endpoint: `${upstream.issuer}/revoke`,
      ...(options.scopesSupported === null
        ? {}
        : { scopes_supported: options.scopesSupported ?? ["openid", "profile", "email", "offline_access"] }),
    }

    const tokens = (
      session: Session,
      shape: {
        readonly sameJwt: boolean
        readonly idToken: boolean
        readonly refreshToken: string | undefined
        readonly expiresIn: number
        readonly idTokenLifetime: number
        readonly scope: string | undefined
        /** The nonce of the authorization request (code exchange only), as a compliant IdP echoes it. */
        readonly nonce?: string | undefined
      },
    ) =>
      Effect.gen(function* () {
        const now = yield* nowSeconds
        const n = ++counter
        const idToken = yield* upstream.sign(
          {
            aud: upstream.clientId,
            ...session.claims,
            ...session.idClaims,
            exp: now + shape.idTokenLifetime,
            nonce: shape.nonce ?? `n${n}`,
          },
          { now },
        )
        const accessToken = shape.sameJwt
          ? idToken
          : yield* upstream.sign(
              {
                aud: audience,
                ...session.claims,
                ...session.accessClaims,
                exp: now + shape.expiresIn,
                jti: `upstream-at-${n}`,
              },
              { now },
            )
        issued.push(accessToken)
        if (shape.idToken && !shape.sameJwt) issued.push(idToken)
        if (shape.refreshToken !== undefined) {
          issued.push(shape.refreshToken)
          sessions.set(shape.refreshToken, session)
        }
        const raw: Record<string, unknown> = {
          access_token: accessToken,
          token_type: "Bearer",
          expires_in: shape.expiresIn,
          ...(shape.idToken || shape.sameJwt ? { id_token: idToken } : {}),
          ...(shape.refreshToken === undefined ? {} : { refresh_token: shape.refreshToken }),
          ...(shape.scope === undefined ? {} : { scope: shape.scope }),
        }
        return { ...raw, raw } as UpstreamTokenResponse
      })

    const client = UpstreamClient.of({
      metadata,
      exchangeCode: (params) =>
        Effect.gen(function* () {
          exchanges.push({ ...params })
          const script = codes.get(params.code)
          codes.delete(params.code)
          if (script === undefined) return yield* rejected("invalid_grant: unknown or used code")
          if (script.error !== undefined) return yield* script.error
          const expiresIn = script.expiresIn ?? 3600
          return yield* tokens(
            {
              claims: { sub: "user-1", ...script.claims },
              accessClaims: script.accessClaims ?? {},
              idClaims: script.idClaims ?? {},
            },
            {
              sameJwt: script.sameJwt === true,
              idToken: script.idToken !== false,
              refreshToken: script.refreshToken === false ? undefined : `upstream-rt-${++counter}`,
              expiresIn,
              idTokenLifetime: script.idTokenLifetime ?? expiresIn,
              scope: script.scope,
              nonce: params.nonce,
            },
          )
        }),
      refresh: (params) =>
        Effect.gen(function* () {
          refreshes.push({ ...params })
          const script = refreshScript
          if (script.latency !== undefined) yield* Effect.sleep(script.latency)
          if (script.error !== undefined) return yield* script.error
          const session = sessions.get(params.refresh_token)
          if (session === undefined) return yield* rejected("invalid_grant: unknown refresh token")
          const rotate = script.rotate !== false
          if (rotate) sessions.delete(params.refresh_token)
          const expiresIn = script.expiresIn ?? 3600
          return yield* tokens(session, {
            sameJwt: false,
            idToken: script.idToken !== false,
            refreshToken: rotate ? `upstream-rt-${++counter}` : undefined,
            expiresIn,
            idTokenLifetime: expiresIn,
            scope: script.scope,
          })
        }),
      revoke: (params) =>
        Effect.sync(() => {
          revocations.push({ ...params })
          sessions.delete(params.token)
        }),
    })

    const control = TestUpstreamClient.of({
      upstream,
      metadata,
      setCode: (code, script = {}) => Effect.sync(() => void codes.set(code, script)),
      setRefresh: (script) =>
        Effect.sync(() => {
          refreshScript = script
        }),
      exchanges: Effect.sync(() => [...exchanges]),
      refreshes: Effect.sync(() => [...refreshes]),
      revocations: Effect.sync(() => [...revocations]),
      issuedTokens: Effect.sync(() => [...issued]),
    })
    return { client, control }
  })

/**
 * Provides `UpstreamClient` and the test's handle on it.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  upstream: TestUpstream,
  options: Options = {},
): Layer.Layer<UpstreamClient | TestUpstreamClient> =>
  Layer.effectContext(
    Effect.map(make(upstream, options), ({ client, control }) =>
      Context.make(UpstreamClient, client).pipe(Context.add(TestUpstreamClient, control)),
    ),
  )

/**
 * Drivers for the flow tests: a proxy over `TestProxy.layerFull`, client registration, and the
 * browser legs of a sign-in (authorize → consent → callback) up to the client's code.
 */
import { assert } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { TestClock } from "effect/testing"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import * as CallbackEndpoint from "../../src/flows/CallbackEndpoint.ts"
import type * as Outcome from "../../src/flows/Outcome.ts"
import * as RegisterEndpoint from "../../src/flows/RegisterEndpoint.ts"
import * as RevocationEndpoint from "../../src/flows/RevocationEndpoint.ts"
import * as TokenEndpoint from "../../src/flows/TokenEndpoint.ts"
import type { OAuthFailure } from "../../src/OAuthError.ts"
import * as Pkce from "../../src/Pkce.ts"
import type * as Store from "../../src/Store.ts"
import { TestProxy, TestStore, TestUpstream, TestUpstreamClient } from "../../src/testing/index.ts"

export const start = 1_800_000_000

export type Services = Layer.Success<ReturnType<typeof TestProxy.layerFull>>

let sharedUpstream: Promise<TestUpstream.TestUpstream> | undefined
/** One upstream key pair per test file: RSA key generation is the slow part. */
const upstreamKey = () => {
  sharedUpstream ??= Effect.runPromise(TestUpstream.make())
  return Effect.promise(() => sharedUpstream!)
}

export interface ProxyOptions {
  /** Configuration overrides (merged over `TestProxy.config`). */
  readonly config?: Record<string, unknown>
  readonly client?: TestUpstreamClient.Options
  readonly store?: Layer.Layer<Store.Store>
  /** Under `it.live` there is no TestClock to set. */
  readonly live?: boolean
}

/** Runs `body` against a fresh proxy (fresh store), with the TestClock at `start`. */
export const withProxy = <A, E>(body: Effect.Effect<A, E, Services>, options: ProxyOptions = {}) =>
  Effect.gen(function* () {
    if (options.live !== true) yield* TestClock.setTime(start * 1000)
    const upstream = yield* upstreamKey()
    const config = TestProxy.config(upstream, options.config)
    return yield* body.pipe(
      Effect.provide(
        TestProxy.layerFull(upstream, config, {
          ...(options.client === undefined ? {} : { client: options.client }),
          ...(options.store === undefined ? {} : { store: options.store }),
        }),
      ),
    )
  })

/** The OAuth failure of an effect that must fail with one. */
export const oauthFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const result = yield* Effect.result(effect)
    assert.strictEqual(result._tag, "Failure", "expected the request to be refused")
    const failure = (result as { readonly failure: E }).failure as unknown as OAuthFailure
    assert.strictEqual(failure._tag, "OAuthFailure", `expected an OAuthFailure, got ${String(failure)}`)
    return failure
  })

/**
 * The stored entries, to compare before and after a refused request. Quota slots (`quota:`) are
 * left out: a rate limit counts refused requests too (`/token`), and a slot is a count that expires
 * with its window, not state a request could leave half-written.
 */
export const snapshot = Effect.map(
  Effect.flatMap(TestStore.TestStore, (s) => s.snapshot),
  (entries) => new Map([...entries].filter(([key]) => !key.startsWith("quota:"))),
)

/** Asserts that `effect` fails with `error` and leaves the store exactly as it was. */
export const refusedWithoutChange = <A, E, R>(effect: Effect.Effect<A, E, R>, error: string) =>
  Effect.gen(function* () {
    const before = yield* snapshot
    const failure = yield* oauthFailure(effect)
    assert.strictEqual(failure.error, error, failure.description)
    assert.deepStrictEqual(yield* snapshot, before, "a refused request must not change the store")
    return failure
  })

export interface Registered {
  readonly client_id: string
  readonly client_secret?: string
  readonly redirect_uris: ReadonlyArray<string>
  readonly token_endpoint_auth_method: string
  readonly body: Record<string, unknown>
}

export const defaultRedirect = "https://app.example/callback"

/** Registers a client (public, both grants, one https redirect URI unless overridden). */
export const register = (metadata: Record<string, unknown> = {}, bearer?: string) =>
  Effect.gen(function* () {
    const outcome = yield* RegisterEndpoint.register(
      {
        redirect_uris: [defaultRedirect],
        grant_types: ["authorization_code", "refresh_token"],
        token_endpoint_auth_method: "none",
        client_name: "Test client",
        ...metadata,
      },
      bearer,
    )
    assert.strictEqual(outcome._tag, "Json")
    const body = (outcome as { readonly body: Record<string, unknown> }).body
    return {
      client_id: body["client_id"] as string,
      ...(typeof body["client_secret"] === "string" ? { client_secret: body["client_secret"] } : {}),
      redirect_uris: body["redirect_uris"] as ReadonlyArray<string>,
      token_endpoint_auth_method: body["token_endpoint_auth_method"] as string,
      body,
    } satisfies Registered as Registered
  })

/** A fresh PKCE pair. */
export const pkce = Effect.gen(function* () {
  const verifier = `v-${crypto.randomUUID()}-${crypto.randomUUID()}`
  return { verifier, challenge: yield* Pkce.challengeOf(verifier) }
})

/** The client credentials of a token or revocation request, by the registered method. */
export const credentials = (
  client: Registered,
): { readonly form: Record<string, string>; readonly authorization: string | undefined } => {
  switch (client.token_endpoint_auth_method) {
    case "client_secret_basic":
      return {
        form: {},
        authorization: `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret!)}`)}`,
      }
    case "client_secret_post":
      return {
        form: { client_id: client.client_id, client_secret: client.client_secret! },
        authorization: undefined,
      }
    default:
      return { form: { client_id: client.client_id }, authorization: undefined }
  }
}

export const authorizeParams = (
  client: Registered,
  challenge: string,
  extra: Record<string, string | undefined> = {},
): Record<string, string | undefined> => ({
  client_id: client.client_id,
  redirect_uri: client.redirect_uris[0],
  response_type: "code",
  code_challenge: challenge,
  code_challenge_method: "S256",
  state: "client-state-1",
  ...extra,
})

/** The cookies an outcome sets, as a browser would send them back (deleted ones dropped). */
export const cookiesOf = (
  outcome: Outcome.Outcome,
  jar: Readonly<Record<string, string>> = {},
): Record<string, string> => {
  const next: Record<string, string> = { ...jar }
  if (outcome._tag === "Json") return next
  for (const c of outcome.cookies) {
    if (c.maxAge === 0) delete next[c.name]
    else next[c.name] = c.value
  }
  return next
}

export const locationOf = (outcome: Outcome.Outcome): URL => {
  assert.strictEqual(outcome._tag, "Redirect", `expected a redirect, got ${outcome._tag}`)
  return new URL((outcome as { readonly location: string }).location)
}

export const consentViewOf = (outcome: Outcome.Outcome): Outcome.ConsentView => {
  assert.strictEqual(outcome._tag, "ConsentPage", `expected the consent page, got ${outcome._tag}`)
  return (outcome as { readonly view: Outcome.ConsentView }).view
}

export interface AtUpstream {
  /** The upstream authorization URL the browser was sent to. */
  readonly upstreamUrl: URL
  /** The transaction id (the upstream `state`). */
  readonly state: string
  readonly cookies: Record<string, string>
  readonly verifier: string
  readonly challenge: string
}

/** `/authorize` and, when the page is shown, an approved consent: the browser is at the IdP. */
export const toUpstream = (client: Registered, extra: Record<string, string | undefined> = {}) =>
  Effect.gen(function* () {
    const { verifier, challenge } = yield* pkce
    const first = yield* AuthorizationEndpoint.authorize(authorizeParams(client, challenge, extra), {})
    let cookies = cookiesOf(first)
    let outcome = first
    if (first._tag === "ConsentPage") {
      outcome = yield* AuthorizationEndpoint.consent(
        { transaction: first.view.transaction, csrf: first.view.csrf, decision: "approve" },
        cookies,
      )
      cookies = cookiesOf(outcome, cookies)
    }
    const upstreamUrl = locationOf(outcome)
    return {
      upstreamUrl,
      state: upstreamUrl.searchParams.get("state")!,
      cookies,
      verifier,
      challenge,
    } satisfies AtUpstream as AtUpstream
  })

export interface SignedIn extends AtUpstream {
  /** The client's redirect with `code`, `state` and `iss`. */
  readonly location: URL
  readonly code: string
  readonly redirect_uri: string
}

let upstreamCodes = 0

/** A whole browser sign-in: the client ends up with its code. */
export const signIn = (
  client: Registered,
  options: {
    readonly params?: Record<string, string | undefined>
    readonly upstream?: TestUpstreamClient.CodeScript
  } = {},
) =>
  Effect.gen(function* () {
    const at = yield* toUpstream(client, options.params)
    const upstreamCode = `upstream-code-${++upstreamCodes}`
    yield* (yield* TestUpstreamClient.TestUpstreamClient).setCode(upstreamCode, options.upstream)
    const outcome = yield* CallbackEndpoint.callback({ state: at.state, code: upstreamCode }, at.cookies)
    const location = locationOf(outcome)
    const code = location.searchParams.get("code")
    assert.isNotNull(code, `the callback answered ${location.href}`)
    return {
      ...at,
      location,
      code: code!,
      redirect_uri: `${location.origin}${location.pathname}`,
    } satisfies SignedIn as SignedIn
  })

export interface TokenResponse {
  readonly access_token: string
  readonly token_type: string
  readonly expires_in: number
  readonly refresh_token?: string
  readonly scope?: string
}

/** The body of a successful token response (checks the no-store header). */
export const tokenBody = (outcome: Outcome.Outcome): TokenResponse => {
  assert.strictEqual(outcome._tag, "Json")
  if (outcome._tag !== "Json") throw new Error("unreachable")
  assert.strictEqual(outcome.status, 200)
  assert.strictEqual(outcome.headers?.["cache-control"], "no-store")
  return outcome.body as TokenResponse
}

/** `POST /token` with the authorization_code grant. */
export const redeem = (client: Registered, signedIn: SignedIn, overrides: Record<string, string> = {}) => {
  const { form, authorization } = credentials(client)
  return TokenEndpoint.token(
    {
      grant_type: "authorization_code",
      code: signedIn.code,
      redirect_uri: signedIn.redirect_uri,
      code_verifier: signedIn.verifier,
      ...form,
      ...overrides,
    },
    authorization,
  )
}

/** `POST /token` with the refresh_token grant. */
export const refresh = (client: Registered, refreshToken: string, overrides: Record<string, string> = {}) => {
  const { form, authorization } = credentials(client)
  return TokenEndpoint.token(
    { grant_type: "refresh_token", refresh_token: refreshToken, ...form, ...overrides },
    authorization,
  )
}

/** `POST /revoke`. */
export const revoke = (client: Registered, token: string, hint?: string) => {
  const { form, authorization } = credentials(client)
  return RevocationEndpoint.revoke(
    { token, ...(hint === undefined ? {} : { token_type_hint: hint }), ...form },
    authorization,
  )
}

/** Registration, sign-in and code redemption: a client holding tokens. */
export const session = (metadata: Record<string, unknown> = {}, options: Parameters<typeof signIn>[1] = {}) =>
  Effect.gen(function* () {
    const client = yield* register(metadata)
    const signedIn = yield* signIn(client, options)
    const tokens = tokenBody(yield* redeem(client, signedIn))
    return { client, signedIn, tokens }
  })

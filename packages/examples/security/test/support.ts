/**
 * The security battery's harness: the real Web `fetch` handler over `TestProxy.layerFull`, in
 * process, with the `TestStore` observer (snapshots and writes), the scripted upstream, every log
 * line captured, and a browser-like driver for the sign-in legs (cookies, consent form, callback).
 *
 * Testing only. Every request is a Web `Request` to `https://proxy.test`; nothing leaves the process.
 */
import { Pkce, ProxyConfig, ProxyKeys, type Store } from "@oidc-proxy/core"
import { TestProxy, TestStore, TestUpstream, TestUpstreamClient } from "@oidc-proxy/core/testing"
import { WebHandler } from "@oidc-proxy/http"
import { Clock, Effect, Layer, Logger, ManagedRuntime, Redacted } from "effect"
import { expect } from "vitest"

export const issuer = "https://proxy.test"
export const resource = `${issuer}/mcp`
export const defaultRedirect = "https://app.example/callback"
export const masterSecret = Redacted.value(TestProxy.testSecret)

let sharedUpstream: Promise<TestUpstream.TestUpstream> | undefined
/** One upstream RSA key pair per test file (key generation is the slow part). */
export const upstreamKey = () => {
  sharedUpstream ??= Effect.runPromise(TestUpstream.make())
  return sharedUpstream
}

export interface ProxyOptions {
  readonly config?: Record<string, unknown>
  readonly client?: TestUpstreamClient.Options
  readonly store?: Layer.Layer<Store.Store>
  /** Sign with an ES256 key (published at `/jwks`) instead of the HS256 key from the secret. */
  readonly asymmetric?: boolean
}

/** An ES256 proxy key and the layer that signs with it. */
const asymmetricKeys = async (configInput: unknown) => {
  const pair = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair
  const key: ProxyKeys.AsymmetricKey = {
    kid: "proxy-es256-1",
    alg: "ES256",
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
  }
  const settings = Layer.effect(ProxyConfig.Settings, Effect.orDie(ProxyConfig.decode(configInput)))
  return {
    layer: ProxyKeys.layerAsymmetric([key]).pipe(Layer.provide(settings)),
    jwks: await Effect.runPromise(ProxyKeys.publicJwks([key])),
  }
}

export type ProxyUnderTest = Awaited<ReturnType<typeof makeProxy>>

/** The real clock, shifted by an offset the test moves forward (sleeps stay real). */
const shiftedClock = (offset: { ms: number }) =>
  Layer.effect(
    Clock.Clock,
    Effect.gen(function* () {
      const base = yield* Clock.Clock
      const nanos = () => base.currentTimeNanosUnsafe() + BigInt(offset.ms) * 1_000_000n
      return {
        currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + offset.ms,
        currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + offset.ms),
        currentTimeNanosUnsafe: nanos,
        currentTimeNanos: Effect.sync(nanos),
        monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
        monotonicTimeNanos: base.monotonicTimeNanos,
        sleep: (d) => base.sleep(d),
      } satisfies Clock.Clock
    }),
  )

/** A fresh proxy (fresh store) behind the real handler. */
export const makeProxy = async (options: ProxyOptions = {}) => {
  const upstream = await upstreamKey()
  const logs: Array<string> = []
  const offset = { ms: 0 }
  const capture = Logger.map(Logger.formatJson, (line) => {
    logs.push(line)
  })
  const configInput = TestProxy.config(upstream, { issuer, resource, ...options.config })
  const full = TestProxy.layerFull(upstream, configInput, {
    ...(options.client === undefined ? {} : { client: options.client }),
    ...(options.store === undefined ? {} : { store: options.store }),
  })
  const asym = options.asymmetric === true ? await asymmetricKeys(configInput) : undefined
  // The asymmetric keys, merged last, replace the HS256 keys of `layerFull`.
  const layer = (asym === undefined ? full : Layer.merge(full, asym.layer)).pipe(
    Layer.provideMerge(Layer.mergeAll(Logger.layer([capture]), shiftedClock(offset))),
  )
  const runtime = ManagedRuntime.make(layer)
  const handler = await runtime.runPromise(
    WebHandler.make({
      onAuthorized: () => new Response("reached the MCP server", { status: 200 }),
      ...(asym === undefined ? {} : { jwks: asym.jwks }),
    }),
  )
  const observer = () => runtime.runPromise(TestStore.TestStore.use(Effect.succeed))
  const control = () => runtime.runPromise(TestUpstreamClient.TestUpstreamClient.use(Effect.succeed))
  /** Every secret the test has seen: none may ever appear in an error body or a log line. */
  const secrets = new Set<string>([masterSecret])
  const seen = (value: string | undefined) => {
    if (value !== undefined && value.length >= 8) secrets.add(value)
  }
  const proxy = {
    handler,
    runtime,
    logs,
    secrets,
    seen,
    dispose: () => runtime.dispose(),
    /** Moves the proxy's clock forward. */
    advance: (seconds: number) => {
      offset.ms += seconds * 1000
    },
    // Quota slots (`quota:`) are left out: a rate limit counts refused requests too (`/token`), and
    // a slot is a count that expires with its window, not state a request could leave half-written.
    snapshot: async () =>
      new Map([...(await runtime.runPromise((await observer()).snapshot))].filter(([k]) => !isQuota(k))),
    writes: async () => (await runtime.runPromise((await observer()).writes)).filter((w) => !isQuota(w.key)),
    keys: async (prefix?: string) => runtime.runPromise((await observer()).keys(prefix)),
    upstream: control,
    /** Sends a request and records what it returned (bodies are read once, here). */
    send: async (request: Request): Promise<Sent> => {
      const response = await handler(request)
      const text = await response.text()
      return { status: response.status, headers: response.headers, text, json: parseJson(text) }
    },
  }
  return proxy
}

export interface Sent {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: Record<string, unknown> | undefined
}

const parseJson = (text: string): Record<string, unknown> | undefined => {
  try {
    const v = JSON.parse(text) as unknown
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export const formRequest = (
  path: string,
  form: Record<string, string | undefined>,
  headers: Record<string, string> = {},
) => {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) if (v !== undefined) body.append(k, v)
  return new Request(`${issuer}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: body.toString(),
  })
}

export const getRequest = (
  path: string,
  query: Record<string, string | undefined> = {},
  headers: Record<string, string> = {},
) => {
  const url = new URL(`${issuer}${path}`)
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.append(k, v)
  return new Request(url, { headers })
}

export interface Client {
  readonly client_id: string
  readonly client_secret?: string
  readonly redirect_uris: ReadonlyArray<string>
  readonly token_endpoint_auth_method: string
}

/** `POST /register`; fails the test unless the client was created. */
export const register = async (
  proxy: ProxyUnderTest,
  metadata: Record<string, unknown> = {},
): Promise<Client> => {
  const res = await proxy.send(
    new Request(`${issuer}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [defaultRedirect],
        grant_types: ["authorization_code", "refresh_token"],
        token_endpoint_auth_method: "none",
        client_name: "Security test client",
        ...metadata,
      }),
    }),
  )
  expect(res.status, res.text).toBe(201)
  const client = res.json as unknown as Client
  proxy.seen(client.client_secret)
  return client
}

/** The client authentication part of a token/revoke form, by the registered method. */
export const clientAuth = (
  client: Client,
): { form: Record<string, string>; headers: Record<string, string> } => {
  switch (client.token_endpoint_auth_method) {
    case "client_secret_basic":
      return {
        form: {},
        headers: {
          authorization: `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret!)}`)}`,
        },
      }
    case "client_secret_post":
      return { form: { client_id: client.client_id, client_secret: client.client_secret! }, headers: {} }
    default:
      return { form: { client_id: client.client_id }, headers: {} }
  }
}

export const pkce = async () => {
  const verifier = `v-${crypto.randomUUID()}-${crypto.randomUUID()}`
  return { verifier, challenge: await Effect.runPromise(Pkce.challengeOf(verifier)) }
}

/** The cookies a response sets, merged into `jar` (deleted ones dropped). */
export const cookiesFrom = (headers: Headers, jar: Record<string, string> = {}): Record<string, string> => {
  const next = { ...jar }
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(";")
    const i = pair!.indexOf("=")
    const name = pair!.slice(0, i)
    const value = pair!.slice(i + 1)
    if (/Max-Age=0\b/.test(line) || value === "") delete next[name]
    else next[name] = value
  }
  return next
}

export const cookieHeader = (jar: Record<string, string>): Record<string, string> => {
  const entries = Object.entries(jar)
  return entries.length === 0 ? {} : { cookie: entries.map(([k, v]) => `${k}=${v}`).join("; ") }
}

/** The hidden inputs of the consent form. */
export const consentForm = (html: string) => {
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]
  const transaction = field("transaction")
  const csrf = field("csrf")
  expect(transaction, "the consent page has a transaction field").toBeDefined()
  expect(csrf, "the consent page has a csrf field").toBeDefined()
  return { transaction: transaction!, csrf: csrf! }
}

export const authorizeQuery = (
  client: Client,
  challenge: string,
  extra: Record<string, string | undefined> = {},
) => ({
  client_id: client.client_id,
  redirect_uri: client.redirect_uris[0],
  response_type: "code",
  code_challenge: challenge,
  code_challenge_method: "S256",
  state: "client-state-1",
  ...extra,
})

export interface AtConsent {
  readonly page: Sent
  readonly jar: Record<string, string>
  readonly transaction: string
  readonly csrf: string
  readonly verifier: string
  readonly challenge: string
}

/** `GET /authorize` up to the consent page. */
export const toConsent = async (
  proxy: ProxyUnderTest,
  client: Client,
  extra: Record<string, string | undefined> = {},
): Promise<AtConsent> => {
  const { verifier, challenge } = await pkce()
  const page = await proxy.send(getRequest("/authorize", authorizeQuery(client, challenge, extra)))
  expect(page.status, page.text).toBe(200)
  const { transaction, csrf } = consentForm(page.text)
  proxy.seen(transaction)
  proxy.seen(csrf)
  const jar = cookiesFrom(page.headers)
  for (const v of Object.values(jar)) proxy.seen(v)
  return { page, jar, transaction, csrf, verifier, challenge }
}

export interface AtUpstream extends AtConsent {
  /** The transaction id, sent upstream as `state`. */
  readonly state: string
}

/** The consent approved: the browser is at the IdP. */
export const toUpstream = async (
  proxy: ProxyUnderTest,
  client: Client,
  extra: Record<string, string | undefined> = {},
): Promise<AtUpstream> => {
  const at = await toConsent(proxy, client, extra)
  const res = await proxy.send(
    formRequest(
      "/consent",
      { transaction: at.transaction, csrf: at.csrf, decision: "approve" },
      cookieHeader(at.jar),
    ),
  )
  expect(res.status, res.text).toBe(302)
  const location = new URL(res.headers.get("location")!)
  return { ...at, jar: cookiesFrom(res.headers, at.jar), state: location.searchParams.get("state")! }
}

let upstreamCodes = 0

export interface SignedIn extends AtUpstream {
  readonly code: string
  readonly redirect_uri: string
  readonly location: URL
}

/** A whole browser sign-in: the client holds its code. */
export const signIn = async (
  proxy: ProxyUnderTest,
  client: Client,
  options: { params?: Record<string, string | undefined>; upstream?: TestUpstreamClient.CodeScript } = {},
): Promise<SignedIn> => {
  const at = await toUpstream(proxy, client, options.params)
  const upstreamCode = `upstream-code-${++upstreamCodes}`
  const control = await proxy.upstream()
  await Effect.runPromise(control.setCode(upstreamCode, options.upstream))
  const res = await proxy.send(
    getRequest("/auth/callback", { state: at.state, code: upstreamCode }, cookieHeader(at.jar)),
  )
  expect(res.status, res.text).toBe(302)
  const location = new URL(res.headers.get("location")!)
  const code = location.searchParams.get("code")
  expect(code, location.href).not.toBeNull()
  proxy.seen(code!)
  for (const t of await Effect.runPromise(control.issuedTokens)) proxy.seen(t)
  return { ...at, code: code!, location, redirect_uri: `${location.origin}${location.pathname}` }
}

export interface Tokens {
  readonly access_token: string
  readonly refresh_token?: string
  readonly expires_in: number
  readonly token_type: string
  readonly scope?: string
}

export const tokenRequest = (client: Client, form: Record<string, string | undefined>) => {
  const auth = clientAuth(client)
  return formRequest("/token", { ...form, ...auth.form }, auth.headers)
}

export const redeemRequest = (
  client: Client,
  s: SignedIn,
  overrides: Record<string, string | undefined> = {},
) =>
  tokenRequest(client, {
    grant_type: "authorization_code",
    code: s.code,
    redirect_uri: s.redirect_uri,
    code_verifier: s.verifier,
    ...overrides,
  })

export const refreshRequest = (client: Client, refreshToken: string, extra: Record<string, string> = {}) =>
  tokenRequest(client, { grant_type: "refresh_token", refresh_token: refreshToken, ...extra })

export const tokensOf = (proxy: ProxyUnderTest, res: Sent): Tokens => {
  expect(res.status, res.text).toBe(200)
  const tokens = res.json as unknown as Tokens
  proxy.seen(tokens.access_token)
  proxy.seen(tokens.refresh_token)
  return tokens
}

/** Registration, sign-in and redemption: a client holding tokens. */
export const session = async (
  proxy: ProxyUnderTest,
  metadata: Record<string, unknown> = {},
  options: Parameters<typeof signIn>[2] = {},
) => {
  const client = await register(proxy, metadata)
  const signedIn = await signIn(proxy, client, options)
  const tokens = tokensOf(proxy, await proxy.send(redeemRequest(client, signedIn)))
  return { client, signedIn, tokens }
}

/** `GET /mcp` with a bearer token. */
export const bearerRequest = (token: string, path = "/mcp") =>
  new Request(`${issuer}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` } })

/** Asserts a body and the captured logs carry none of the secrets the test has seen. */
export const assertNoSecrets = (proxy: ProxyUnderTest, text: string, where = "body") => {
  for (const secret of proxy.secrets) {
    if (text.includes(secret)) throw new Error(`a secret (${secret.slice(0, 6)}…) appears in a ${where}`)
  }
  expect(text, `no stack trace in a ${where}`).not.toMatch(/\n\s+at |Error:|\.ts:\d+/)
}

const isQuota = (key: string) => key.startsWith("quota:")

export const assertLogsClean = (proxy: ProxyUnderTest) => {
  for (const line of proxy.logs) {
    for (const secret of proxy.secrets)
      if (line.includes(secret)) throw new Error(`a secret (${secret.slice(0, 6)}…) appears in a log line`)
  }
}

/**
 * Runs `attack` and asserts that the store is exactly as before: same entries, no write.
 */
export const withoutStateChange = async <A>(proxy: ProxyUnderTest, attack: () => Promise<A>): Promise<A> => {
  const before = await proxy.snapshot()
  const writes = (await proxy.writes()).length
  const result = await attack()
  expect(await proxy.snapshot(), "a refused request must not change the store").toEqual(before)
  expect((await proxy.writes()).slice(writes), "a refused request must not write to the store").toEqual([])
  return result
}

/** Asserts an OAuth JSON error answer. */
export const expectOAuthError = (res: Sent, status: number, error: string) => {
  expect(res.status, res.text).toBe(status)
  expect(res.json?.["error"], res.text).toBe(error)
}

/** Asserts an error page (browser endpoint, no redirect). */
export const expectErrorPage = (res: Sent, status: number, error: string) => {
  expect(res.status, res.text).toBe(status)
  expect(res.headers.get("location")).toBeNull()
  expect(res.headers.get("content-type")).toContain("text/html")
  expect(res.text).toContain(`<code>${error}</code>`)
}

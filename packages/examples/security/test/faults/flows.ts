/**
 * Driving a real gateway over HTTP for the fault scenarios: its environment against the fake IdP,
 * an in-process start (`Gateway.start`), a recording target, and a whole client sign-in (DCR,
 * authorize, consent in a headless browser, the IdP, the callback, `/token`) through any address.
 *
 * Test support. Requests go to 127.0.0.1 only.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Gateway, GatewayConfig } from "@oidc-proxy/node"
import { HeadlessBrowser } from "@oidc-proxy/testbed"
import { Result } from "effect"
import { afterAll, beforeAll, expect } from "vitest"
import { pkce } from "../support.ts"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

export const masterSecret = "fault-scenarios-master-secret-0123456789-abcdef"

/** The gateway's environment in front of `target`, against `idp`, over `store`. */
export const gatewayEnv = (
  baseUrl: string,
  target: string,
  idp: FakeIdp,
  store: string,
  extra: Record<string, string> = {},
): Record<string, string> => ({
  OIDC_PROXY_BASE_URL: baseUrl,
  OIDC_PROXY_TARGET: target,
  OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
  OIDC_PROXY_UPSTREAM_CLIENT_ID: idp.clientId,
  OIDC_PROXY_UPSTREAM_CLIENT_SECRET: idp.clientSecret,
  OIDC_PROXY_UPSTREAM_AUDIENCE: idp.audience,
  OIDC_PROXY_UPSTREAM_SCOPES: "openid",
  OIDC_PROXY_STORE: store,
  OIDC_PROXY_SECRET: masterSecret,
  OIDC_PROXY_LOG_LEVEL: "error",
  ...extra,
})

/** Decodes `env` as the binary would; fails the test on a bad environment. */
export const configOf = (env: Record<string, string>): GatewayConfig.GatewayConfig => {
  const decoded = GatewayConfig.decode(env)
  if (Result.isFailure(decoded)) throw decoded.failure
  return decoded.success
}

/** `Gateway.start` in this process from `env`. */
export const startGateway = (env: Record<string, string>, options: Gateway.Options = {}) =>
  Gateway.start(configOf(env), options)

/** Options of {@link spawnAgainst}. */
export interface SpawnAgainstOptions {
  /** `OIDC_PROXY_STORE`; default `memory`. */
  readonly store?: string
  /** The port to listen on; default a free one. */
  readonly port?: number
  /** `OIDC_PROXY_BASE_URL` (the issuer); default the gateway's own `http://127.0.0.1:<port>`. */
  readonly baseUrl?: string
}

/**
 * The binary as a child process on 127.0.0.1 in front of `target`, against `idp`: `gatewayEnv`
 * with `extra` on top, waited for until ready (testbed's `spawnGateway`).
 */
export const spawnAgainst = async (
  idp: FakeIdp,
  target: Target,
  extra: Record<string, string> = {},
  options: SpawnAgainstOptions = {},
): Promise<GatewayProcess> => {
  const port = options.port ?? (await freePort())
  const url = `http://127.0.0.1:${port}`
  const env = gatewayEnv(options.baseUrl ?? url, target.url, idp, options.store ?? "memory", {
    OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
    ...extra,
  })
  return spawnGateway(url, env)
}

const byHand = {
  revoke: "OIDC_PROXY_UPSTREAM_REVOCATION_ENDPOINT",
  introspect: "OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT",
  userinfo: "OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT",
} as const

/** `idp`'s endpoints configured by hand (no discovery): `/authorize`, `/token` and each of `more`. */
export const endpointsByHand = (
  idp: FakeIdp,
  ...more: ReadonlyArray<keyof typeof byHand>
): Record<string, string> => ({
  OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: `${idp.issuer}/authorize`,
  OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: `${idp.issuer}/token`,
  ...Object.fromEntries(more.map((path) => [byHand[path], `${idp.issuer}/${path}`])),
})

/** One request as the target parsed it. */
export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
}

export interface Target {
  /** The target's `/mcp` URL. */
  readonly url: string
  /** How many requests reached it. */
  readonly hits: () => number
  /** Every request it parsed, in order. */
  readonly seen: Array<Seen>
  readonly close: () => Promise<void>
}

/** A stand-in MCP server that records what reaches it: 200 JSON to everything. */
export const startTarget = async (): Promise<Target> => {
  const seen: Array<Seen> = []
  const server = createServer((req, res) => {
    req.resume()
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
      res.writeHead(200, { "content-type": "application/json" })
      res.end('{"ok":true}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    hits: () => seen.length,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** What a binary scenario runs against: the fake IdP, a target, a scratch folder, its gateway. */
export interface Scenario {
  readonly idp: FakeIdp
  readonly target: Target
  /** A scratch folder (e.g. for SQLite files), removed after all tests. */
  readonly dir: string
  /** The gateway process a test spawned last, if any: killed (SIGKILL) after all tests. */
  gateway: GatewayProcess | undefined
}

/**
 * Starts the fake IdP and a target before all tests of the file (or suite) and stops them, the
 * scenario's gateway and its scratch folder after.
 */
export const fakeIdpScenario = (dirPrefix = "oidc-proxy-fault-"): Scenario => {
  const state: { idp?: FakeIdp; target?: Target; gateway: GatewayProcess | undefined } = {
    gateway: undefined,
  }
  const dir = mkdtempSync(join(tmpdir(), dirPrefix))
  beforeAll(async () => {
    state.idp = await startFakeIdp()
    state.target = await startTarget()
  })
  afterAll(async () => {
    await state.gateway?.stop("SIGKILL")
    await state.target?.close()
    await state.idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    get idp() {
      return state.idp!
    },
    get target() {
      return state.target!
    },
    dir,
    get gateway() {
      return state.gateway
    },
    set gateway(value) {
      state.gateway = value
    },
  }
}

/** A {@link fakeIdpScenario} whose binary is spawned before all tests. */
export interface BinaryScenario {
  readonly idp: FakeIdp
  readonly target: Target
  readonly gateway: GatewayProcess
  /** The client signed in before all tests (with `signIn`). */
  readonly tokens: ClientTokens
}

/**
 * A {@link fakeIdpScenario} with the binary spawned before all tests ({@link spawnAgainst}, the
 * environment `configure` returns once it has set the started IdP up) and, with `signIn`, one
 * client signed in through it; all stopped after.
 */
export const binaryScenario = (
  configure: (idp: FakeIdp) => Record<string, string>,
  options: { readonly signIn?: boolean } = {},
): BinaryScenario => {
  const scenario = fakeIdpScenario()
  let tokens: ClientTokens | undefined
  beforeAll(async () => {
    scenario.gateway = await spawnAgainst(scenario.idp, scenario.target, configure(scenario.idp))
    if (options.signIn) tokens = await signIn(scenario.gateway.url, scenario.idp)
  }, 30_000)
  return {
    get idp() {
      return scenario.idp
    },
    get target() {
      return scenario.target
    },
    get gateway() {
      return scenario.gateway!
    },
    get tokens() {
      return tokens!
    },
  }
}

/** The MCP client's redirect URI: the browser stops there, it is never fetched. */
export const clientRedirect = "http://127.0.0.1:9/client-callback"

export interface ClientTokens {
  readonly client_id: string
  readonly access_token: string
  readonly refresh_token: string
}

/**
 * `POST /register` of a client at `url` (public unless `auth` says otherwise), with `metadata`
 * over the defaults: its registration.
 */
export const register = async (
  url: string,
  auth: "none" | "client_secret_basic" = "none",
  metadata: Record<string, unknown> = {},
): Promise<{ readonly client_id: string; readonly client_secret?: string }> => {
  const res = await fetch(`${url}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      redirect_uris: [clientRedirect],
      grant_types: ["authorization_code", "refresh_token"],
      token_endpoint_auth_method: auth,
      client_name: "fault scenario client",
      ...metadata,
    }),
  })
  expect(res.status, await res.clone().text()).toBe(201)
  return (await res.json()) as { client_id: string; client_secret?: string }
}

/** `POST /register` of a public client at `url`. */
export const registerClient = async (url: string): Promise<string> => (await register(url)).client_id

/** A PKCE `/authorize` query for `client_id` to the client's redirect URI, plus `extra` parameters. */
export const authorizeQuery = async (client_id: string, extra: Record<string, string> = {}) => {
  const { verifier, challenge } = await pkce()
  const query = new URLSearchParams({
    client_id,
    redirect_uri: clientRedirect,
    response_type: "code",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "client-state",
    ...extra,
  })
  return { verifier, query }
}

export interface Authorization {
  readonly client_id: string
  readonly verifier: string
  readonly browser: HeadlessBrowser.HeadlessBrowser
  /** Where the browser stopped: the IdP's authorization request (not yet fetched). */
  readonly atIdp: URL
}

/**
 * DCR (unless `registered` names a client), then the browser from `/authorize` through the consent
 * page up to the IdP.
 */
export const toIdp = async (
  url: string,
  idp: FakeIdp,
  browser = new HeadlessBrowser.HeadlessBrowser(),
  registered?: string,
): Promise<Authorization> => {
  const client_id = registered ?? (await registerClient(url))
  const { verifier, query } = await authorizeQuery(client_id)
  const atIdp = await browser.drive(`${url}/authorize?${query}`, {
    stopAt: (u) => u.href.startsWith(`${idp.issuer}/authorize`),
    onPage: HeadlessBrowser.pressButton("decision", "approve"),
  })
  return { client_id, verifier, browser, atIdp }
}

/** From the IdP back through the callback to the client's redirect URI (its query: code or error). */
export const backFromIdp = async (at: Authorization): Promise<URL> => {
  const done = await at.browser.navigate(at.atIdp, { stopAt: (u) => u.href.startsWith(clientRedirect) })
  if (done._tag !== "Stopped")
    throw new Error(`the browser stopped on a page: ${done.page.status} ${done.page.url.pathname}`)
  return done.url
}

/** `POST /token` with a form; returns status and JSON. */
export const postToken = async (url: string, form: Record<string, string>) => {
  const res = await fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  })
  const text = await res.text()
  let body: Record<string, unknown> = {}
  try {
    body = JSON.parse(text) as Record<string, unknown>
  } catch {
    // not JSON: left empty, the status says enough
  }
  return { status: res.status, headers: res.headers, body, text, retryAfter: res.headers.get("retry-after") }
}

export const redeem = async (url: string, at: Authorization, code: string): Promise<ClientTokens> => {
  const res = await postToken(url, {
    grant_type: "authorization_code",
    code,
    redirect_uri: clientRedirect,
    code_verifier: at.verifier,
    client_id: at.client_id,
  })
  expect(res.status, res.text).toBe(200)
  return {
    client_id: at.client_id,
    access_token: res.body["access_token"] as string,
    refresh_token: res.body["refresh_token"] as string,
  }
}

/** A whole sign-in through `url`: a client holding tokens. */
export const signIn = async (url: string, idp: FakeIdp): Promise<ClientTokens> => {
  const at = await toIdp(url, idp)
  const back = await backFromIdp(at)
  const code = back.searchParams.get("code")
  expect(code, back.href).not.toBeNull()
  return redeem(url, at, code!)
}

export const refresh = (url: string, tokens: Pick<ClientTokens, "client_id" | "refresh_token">) =>
  postToken(url, {
    grant_type: "refresh_token",
    refresh_token: tokens.refresh_token,
    client_id: tokens.client_id,
  })

/** The bearer check through the gateway: status and OAuth error of `POST {url}/mcp`. */
export const bearer = async (url: string, token: string) => {
  const res = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    // An MCP ping: a request the testbed's MCP server answers with 200.
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
  })
  const text = await res.text()
  let error: unknown
  try {
    error = (JSON.parse(text) as Record<string, unknown>)["error"]
  } catch {
    error = undefined
  }
  return { status: res.status, error, retryAfter: res.headers.get("retry-after"), text }
}

/**
 * Test fixtures for the gateway: a recording fake MCP server on 127.0.0.1, the proxy's services
 * over core's test layers (a local upstream key, a shared memory store), and a way to mint a
 * valid proxy access token for them.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http"
import { type AddressInfo, connect } from "node:net"
import {
  type AccessToken,
  IssueAccessToken,
  StorageKeys,
  Store,
  TokenStore,
  Upstream,
} from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Effect, Layer, Result } from "effect"
import { Gateway, GatewayConfig } from "../src/index.ts"

/** A request the fake target received. */
export interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: string
}

export interface FakeTarget {
  readonly url: string
  readonly seen: Array<Seen>
  readonly close: () => Promise<void>
}

/**
 * An HTTP server on 127.0.0.1 that records each request (headers and whole body) and answers
 * with `respond` (default: 200 JSON echo of the path).
 */
export const fakeTarget = async (
  respond?: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<FakeTarget> => {
  const seen: Array<Seen> = []
  const server = createServer((req, res) => {
    if (respond !== undefined && req.headers["x-test-raw"] === "1") return respond(req, res, "")
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString()
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body })
      if (respond !== undefined) return respond(req, res, body)
      res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "session-from-target" })
      res.end(JSON.stringify({ path: req.url }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** An identity as the bearer check hands it to `onAuthorized`. */
export const fakeToken = (overrides: Partial<AccessToken.AccessToken> = {}): AccessToken.AccessToken => ({
  token: "proxy.jwt.value",
  client_id: "client-1",
  subject: "user-1",
  scopes: ["openid", "mcp:tools"],
  expires_at: 2_000_000_000,
  claims: { iss: "https://idp.test", sub: "user-1", email: "user@example.com", email_verified: true },
  ...overrides,
})

/** The environment of a valid gateway configuration (memory store, dev secret, loopback). */
export const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
  OIDC_PROXY_BASE_URL: "http://127.0.0.1:8080",
  OIDC_PROXY_TARGET: "http://127.0.0.1:9000/mcp",
  OIDC_PROXY_UPSTREAM_ISSUER: "http://127.0.0.1:9100",
  OIDC_PROXY_UPSTREAM_CLIENT_ID: "proxy-client",
  OIDC_PROXY_UPSTREAM_CLIENT_SECRET: "upstream-client-secret-value",
  OIDC_PROXY_SECRET: "a-master-secret-of-at-least-32-bytes!!",
  OIDC_PROXY_STORE: "memory",
  ...overrides,
})

/**
 * The gateway in process over `testServices(baseUrl)` in front of `target`/mcp, quiet, listening on
 * a free loopback port; `overrides` are more variables, `options` more `Gateway.start` options. The
 * caller stops it (`gateway.shutdown`).
 */
export const startInProcess = async (
  baseUrl: string,
  target: string,
  overrides: Record<string, string> = {},
  options: Gateway.Options = {},
) => {
  const services = await testServices(baseUrl)
  const decoded = GatewayConfig.decode(
    env({
      OIDC_PROXY_BASE_URL: baseUrl,
      OIDC_PROXY_LISTEN: "127.0.0.1:0",
      OIDC_PROXY_TARGET: `${target}/mcp`,
      OIDC_PROXY_LOG_LEVEL: "none",
      OIDC_PROXY_SHUTDOWN_TIMEOUT: "5",
      ...overrides,
    }),
  )
  if (Result.isFailure(decoded)) throw decoded.failure
  const gateway = await Gateway.start(decoded.success, { ...options, services: services.layer })
  return { gateway, services }
}

export interface TestServices {
  readonly layer: Layer.Layer<Gateway.Services>
  /** Mints a valid proxy access token for `subject` with the given upstream claims. */
  readonly issue: (claims: Record<string, unknown>, scopes?: ReadonlyArray<string>) => Promise<string>
}

const metadata = (issuer: string): Upstream.UpstreamMetadata => ({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  jwks_uri: `${issuer}/jwks`,
})

/**
 * The gateway's services over core's test layers, for a proxy at `baseUrl` protecting
 * `baseUrl/mcp`, verifying upstream id_tokens; `store` defaults to one shared memory store.
 */
export const testServices = async (
  baseUrl: string,
  store?: Layer.Layer<Store.Store>,
  configOverrides: Record<string, unknown> = {},
): Promise<TestServices> => {
  const upstream = await Effect.runPromise(TestUpstream.make())
  // One store instance shared by the gateway and `issue`, so issued tokens resolve.
  const shared = store ?? Layer.succeed(Store.Store, Effect.runSync(Store.makeMemory))
  const config = TestProxy.config(upstream, {
    issuer: baseUrl,
    resource: `${baseUrl}/mcp`,
    verification_mode: "id_token",
    ...configOverrides,
  })
  const storageKeys = StorageKeys.layer([{ kid: "k1", secret: TestProxy.testSecret }]).pipe(Layer.orDie)
  const upstreamClient = Layer.succeed(
    Upstream.UpstreamClient,
    Upstream.UpstreamClient.of({
      metadata: metadata(upstream.issuer),
      exchangeCode: () => Effect.die("not used"),
      refresh: () => Effect.die("not used"),
      revoke: () => Effect.void,
    }),
  )
  const layer = Layer.mergeAll(TestProxy.layer(upstream, config, shared), storageKeys, upstreamClient, shared)
  const issue = (claims: Record<string, unknown>, scopes: ReadonlyArray<string> = ["openid"]) =>
    Effect.runPromise(
      Effect.gen(function* () {
        const now = Math.floor(Date.now() / 1000)
        const idToken = yield* upstream.sign({ aud: upstream.clientId, exp: now + 3600, ...claims })
        const id = `ts-${crypto.randomUUID()}`
        const store = yield* TokenStore.TokenStore
        yield* store.upstreamTokenSets.set(
          id,
          {
            id,
            access_token: `upstream-access-${id}`,
            id_token: idToken,
            token_type: "Bearer",
            scope: [...scopes],
            expires_at: now + 3600,
            raw: {},
          },
          "1 hour",
        )
        const issued = yield* IssueAccessToken.issueAccessToken({
          upstream_token_set_id: id,
          client_id: "client-1",
          subject: String(claims["sub"]),
          scopes: [...scopes],
          lifetime: 600,
        })
        return issued.access_token
      }).pipe(Effect.provide(TestProxy.layer(upstream, config, shared))),
    )
  return { layer, issue }
}

export interface RawAnswer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

const unchunk = (raw: string): string => {
  let out = ""
  let rest = raw
  for (;;) {
    const i = rest.indexOf("\r\n")
    const size = Number.parseInt(rest.slice(0, i), 16)
    if (!(size > 0)) return out
    out += rest.slice(i + 2, i + 2 + size)
    rest = rest.slice(i + 2 + size + 2)
  }
}

/** Sends `bytes` on a fresh connection and reads until the server closes it (bounded: 5 s). */
export const sendRaw = (url: string, bytes: string): Promise<RawAnswer> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port), hostname)
    const chunks: Array<Buffer> = []
    const timer = setTimeout(() => socket.destroy(new Error("no answer within 5 s")), 5000)
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on("close", () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString("latin1")
      const [head = "", ...rest] = text.split("\r\n\r\n")
      const [statusLine = "", ...lines] = head.split("\r\n")
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const i = line.indexOf(":")
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
      }
      const raw = rest.join("\r\n\r\n")
      const body = headers["transfer-encoding"] === "chunked" ? unchunk(raw) : raw
      resolve({ status: Number(statusLine.split(" ")[1] ?? 0), headers, body })
    })
    socket.write(bytes)
  })

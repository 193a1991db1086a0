/**
 * The HTTP servers of the gateway benchmark, one per process: `node servers.ts <kind> [target]`.
 * Prints `{"url", "token"?}` as its first stdout line; on the IPC message `"cpu"` answers with its
 * process CPU time (µs) so far; `"exit"` exits cleanly (a `--cpu-prof` profile is written).
 *
 * - `mcp`: the MCP server stand-in (no auth) — answers a JSON-RPC `tools/call` with one text, a
 *   `tools/list` with 20 tools (`policy.ts`'s `toolNames`), any other request (a GET too) as a `tools/call`;
 * - `undici`: a bare reverse proxy (undici, no auth) to `target`;
 * - `gateway`: the real gateway — `Gateway.start` over `ProxyLayer` (memory store, discovery and
 *   JWKS from a local fake IdP), access logs on; `BENCH_GATEWAY_POLICY=<file>` sets
 *   `OIDC_PROXY_POLICY`;
 * - `express`: Express + the MCP SDK's `requireBearerAuth` with a jose HS256 verifier, answering
 *   the call itself;
 * - `express-proxy`: the same auth, then the request forwarded to `target` with undici (as the
 *   `undici` kind does) — the same job as the gateway.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { toolNames } from "./policy.ts"

const kind = process.argv[2]
const target = process.argv[3] ?? ""

const result = (id: unknown) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id,
    result: { content: [{ type: "text", text: "pong" }], isError: false },
  })

/** A `tools/list` answer of realistic size: a description and an input schema per tool (~4 KB). */
const toolList = (id: unknown) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id,
    result: {
      tools: toolNames.map((name) => ({
        name,
        description: `The ${name} tool: does one thing for the caller and answers with a short text.`,
        inputSchema: {
          type: "object",
          properties: { message: { type: "string", description: "What to say" } },
          required: ["message"],
        },
      })),
    },
  })

const announce = (url: string, token?: string) => {
  process.stdout.write(`${JSON.stringify({ url, token })}\n`)
  process.on("message", (m) => {
    if (m === "cpu") {
      const u = process.cpuUsage()
      process.send?.({ cpu: u.user + u.system })
    }
    // A clean exit, so `--cpu-prof` writes its profile.
    if (m === "exit") process.exit(0)
  })
}

const listenPlain = (server: ReturnType<typeof createServer>) =>
  new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  )

/**
 * A bare reverse proxy's request handler (undici, no auth): the request's headers but the
 * hop-by-hop ones and `authorization`, its body streamed, the target's answer streamed back.
 */
const undiciForward = async (to: string) => {
  const { Agent, request } = await import("undici")
  const dispatcher = new Agent({ connections: 64, pipelining: 1 })
  const url = new URL(to)
  return async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const headers: Record<string, string> = {}
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!.toLowerCase()
        if (name !== "host" && name !== "connection" && name !== "content-length" && name !== "authorization")
          headers[name] = req.rawHeaders[i + 1]!
      }
      const upstream = await request(url, {
        method: req.method as "POST",
        headers,
        body: req.method === "GET" ? null : req,
        dispatcher,
      })
      const out: Record<string, string> = {}
      for (const [k, v] of Object.entries(upstream.headers))
        if (typeof v === "string" && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding")
          out[k] = v
      res.writeHead(upstream.statusCode, out)
      for await (const chunk of upstream.body) res.write(chunk)
      res.end()
    } catch {
      res.writeHead(502)
      res.end()
    }
  }
}

if (kind === "mcp") {
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      let message: { id?: unknown; method?: unknown } = {}
      try {
        message = JSON.parse(Buffer.concat(chunks).toString()) as typeof message
      } catch {}
      res.writeHead(200, { "content-type": "application/json" })
      res.end(message.method === "tools/list" ? toolList(message.id ?? null) : result(message.id ?? null))
    })
  })
  server.keepAliveTimeout = 60_000
  announce(`${await listenPlain(server)}/mcp`)
} else if (kind === "undici") {
  const server = createServer(await undiciForward(target))
  server.keepAliveTimeout = 60_000
  announce(`${await listenPlain(server)}/mcp`)
} else if (kind === "gateway") {
  // The production assembly: `Gateway.start` with `Gateway.servicesLayer`'s parts (ProxyLayer:
  // node:crypto keys, discovery and JWKS over HTTP from a local fake IdP) over a memory store the
  // benchmark can also write its session into. Access logs on (JSON lines to stdout, discarded by
  // the parent), as deployed.
  // `BENCH_GATEWAY_MODULE`: another copy of `@oidc-proxy/node` (e.g. a baseline for A/B runs).
  const { Gateway, GatewayConfig, ProxyLayer } = (await import(
    process.env["BENCH_GATEWAY_MODULE"] ?? "@oidc-proxy/node"
  )) as typeof import("@oidc-proxy/node")
  const { IssueAccessToken, Store, TokenStore } = await import("@oidc-proxy/core")
  const { TestUpstream } = await import("@oidc-proxy/core/testing")
  const { Effect, Layer, ManagedRuntime, Result } = await import("effect")
  const { upstreamTokens } = await import("./stack.ts")
  const idp = createServer((req, res) => {
    const body =
      req.url === "/.well-known/openid-configuration"
        ? {
            issuer: idpUrl,
            authorization_endpoint: `${idpUrl}/authorize`,
            token_endpoint: `${idpUrl}/token`,
            jwks_uri: `${idpUrl}/jwks`,
            response_types_supported: ["code"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256"],
          }
        : req.url === "/jwks"
          ? upstream.jwks
          : undefined
    res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" })
    res.end(JSON.stringify(body ?? {}))
  })
  const idpUrl = await listenPlain(idp)
  const upstream = await Effect.runPromise(TestUpstream.make({ issuer: idpUrl, clientId: "proxy-client" }))
  const decoded = GatewayConfig.decode({
    OIDC_PROXY_BASE_URL: "http://127.0.0.1:8080",
    OIDC_PROXY_LISTEN: "127.0.0.1:0",
    OIDC_PROXY_TARGET: target,
    OIDC_PROXY_UPSTREAM_ISSUER: idpUrl,
    OIDC_PROXY_UPSTREAM_CLIENT_ID: "proxy-client",
    OIDC_PROXY_UPSTREAM_CLIENT_SECRET: "upstream-client-secret-value",
    OIDC_PROXY_SECRET: "a-master-secret-of-at-least-32-bytes!!",
    OIDC_PROXY_STORE: "memory",
    OIDC_PROXY_VERIFY_ID_TOKEN: "true",
    OIDC_PROXY_LOG_LEVEL: process.env["BENCH_GATEWAY_LOG_LEVEL"] ?? "info",
    // A policy file (`bench/run.ts` writes one): every POST to /mcp read and decided, lists filtered.
    ...(process.env["BENCH_GATEWAY_POLICY"] === undefined
      ? {}
      : { OIDC_PROXY_POLICY: process.env["BENCH_GATEWAY_POLICY"] }),
  })
  if (Result.isFailure(decoded)) throw decoded.failure
  const config = decoded.success
  const store = Layer.succeed(Store.Store, Effect.runSync(Store.makeMemory))
  const proxy = ProxyLayer.layer({
    config: config.proxy,
    secrets: config.secrets,
    store,
    upstream: {
      client_secret: config.upstream.client_secret,
      token_endpoint_auth_method: config.upstream.token_endpoint_auth_method,
    },
  })
  const gateway = await Gateway.start(config, { services: Layer.merge(proxy, store) })
  // One session in the same store, issued with the same secrets.
  const tokens = await upstreamTokens(upstream)
  const issuer = ManagedRuntime.make(proxy)
  const token = await issuer.runPromise(
    Effect.gen(function* () {
      const tokenStore = yield* TokenStore.TokenStore
      const now = Math.floor(Date.now() / 1000)
      yield* tokenStore.upstreamTokenSets.set(
        "bench",
        {
          id: "bench",
          access_token: tokens.accessToken,
          id_token: tokens.idToken,
          refresh_token: "upstream-refresh-bench-0123456789abcdef0123456789abcdef",
          token_type: "Bearer",
          scope: ["openid", "profile", "email", "tools"],
          expires_at: now + 3600,
          raw: {},
        },
        "2 hours",
      )
      const issued = yield* IssueAccessToken.issueAccessToken({
        upstream_token_set_id: "bench",
        client_id: "bench-client",
        subject: "user-1",
        scopes: ["openid", "tools"],
        lifetime: 3600,
      })
      return issued.access_token
    }),
  )
  announce(`${gateway.url}/mcp`, token)
} else if (kind === "express" || kind === "express-proxy") {
  // Express + the MCP SDK's `requireBearerAuth` with a jose HS256 verifier. `express` answers the
  // call itself (no proxy hop); `express-proxy` forwards it to `target` with undici, the same way
  // as the `undici` kind — the same job as the gateway (auth, then forward).
  const express = (await import("express")).default
  const { requireBearerAuth } = await import("@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js")
  const { InvalidTokenError } = await import("@modelcontextprotocol/sdk/server/auth/errors.js")
  const { jwtVerify, SignJWT } = await import("jose")
  const key = new TextEncoder().encode("express-bench-secret-0123456789abcdef-0123456789")
  const verifier = {
    verifyAccessToken: async (token: string) => {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          issuer: "https://proxy.test",
          audience: "https://proxy.test/mcp",
        })
        return {
          token,
          clientId: String(payload["client_id"]),
          scopes: String(payload["scope"] ?? "").split(" "),
          ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
        }
      } catch {
        throw new InvalidTokenError("Invalid token")
      }
    },
  }
  const app = express()
  if (kind === "express") {
    app.use(express.json())
    app.post(
      "/mcp",
      requireBearerAuth({ verifier }),
      (req: { body: unknown }, res: { json: (b: unknown) => void }) => {
        res.json(JSON.parse(result((req.body as { id?: unknown }).id ?? null)))
      },
    )
  } else {
    app.post("/mcp", requireBearerAuth({ verifier }), await undiciForward(target))
  }
  const now = Math.floor(Date.now() / 1000)
  const token = await new SignJWT({ client_id: "c1", scope: "openid tools", sub: "u1", jti: "j1" })
    .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
    .setIssuer("https://proxy.test")
    .setAudience("https://proxy.test/mcp")
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(key)
  const server = createServer(app)
  server.keepAliveTimeout = 60_000
  announce(`${await listenPlain(server)}/mcp`, token)
} else {
  console.error(`unknown kind ${kind}`)
  process.exit(2)
}

/**
 * The HTTP servers of the gateway benchmark, one per process: `node servers.ts <kind> [target]`.
 * Prints `{"url", "token"?}` as its first stdout line; on the IPC message `"cpu"` answers with its
 * process CPU time (µs) so far.
 *
 * - `mcp`: the MCP server stand-in — answers a JSON-RPC `tools/call` (no auth);
 * - `undici`: a bare reverse proxy (undici, no auth) to `target`;
 * - `gateway`: our gateway path — `WebHandler` + `NodeServer.listen` + `ReverseProxy` as
 *   `onAuthorized`, memory store, `NodeProxyKeys`;
 * - `express`: Express + the MCP SDK's `requireBearerAuth` with a jose HS256 verifier, answering
 *   the call itself.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { WebHandler as WH } from "@oidc-proxy/http"
import type { Effect as E } from "effect"

const kind = process.argv[2]
const target = process.argv[3] ?? ""

const result = (id: unknown) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id,
    result: { content: [{ type: "text", text: "pong" }], isError: false },
  })

const announce = (url: string, token?: string) => {
  process.stdout.write(`${JSON.stringify({ url, token })}\n`)
  process.on("message", (m) => {
    if (m === "cpu") {
      const u = process.cpuUsage()
      process.send?.({ cpu: u.user + u.system })
    }
  })
}

const listenPlain = (server: ReturnType<typeof createServer>) =>
  new Promise<string>((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  )

if (kind === "mcp") {
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      let id: unknown = null
      try {
        id = (JSON.parse(Buffer.concat(chunks).toString()) as { id?: unknown }).id ?? null
      } catch {}
      res.writeHead(200, { "content-type": "application/json" })
      res.end(result(id))
    })
  })
  server.keepAliveTimeout = 60_000
  announce(`${await listenPlain(server)}/mcp`)
} else if (kind === "undici") {
  const { Agent, request } = await import("undici")
  const dispatcher = new Agent({ connections: 64, pipelining: 1 })
  const url = new URL(target)
  const server = createServer(async (req, res) => {
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
  })
  server.keepAliveTimeout = 60_000
  announce(`${await listenPlain(server)}/mcp`)
} else if (kind === "gateway") {
  const { WebHandler } = await import("@oidc-proxy/http")
  const { NodeServer, ReverseProxy } = await import("@oidc-proxy/node")
  const { Store } = await import("@oidc-proxy/core")
  const { TestUpstream } = await import("@oidc-proxy/core/testing")
  const { Effect } = await import("effect")
  const { createSessions, makeStack, upstreamTokens } = await import("./stack.ts")
  const upstream = await Effect.runPromise(TestUpstream.make())
  const stack = makeStack(upstream, { store: Store.layerMemory })
  const [token] = await createSessions(stack, await upstreamTokens(upstream), 1)
  const forward = ReverseProxy.make({ target: new URL(target), resourcePath: "/mcp" })
  // The benchmark drives the bearer check and the forward only; `/token` and friends, which need
  // the upstream token client, are not served here.
  const handler = await stack.runPromise(
    WebHandler.make({ onAuthorized: forward }) as unknown as E.Effect<WH.Handler>,
  )
  const listening = await NodeServer.listen(handler, {
    host: "127.0.0.1",
    port: 0,
    origin: () => "https://proxy.test",
  })
  announce(`${listening.url}/mcp`, token)
} else if (kind === "express") {
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
  app.use(express.json())
  app.post(
    "/mcp",
    requireBearerAuth({ verifier }),
    (req: { body: unknown }, res: { json: (b: unknown) => void }) => {
      res.json(JSON.parse(result((req.body as { id?: unknown }).id ?? null)))
    },
  )
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

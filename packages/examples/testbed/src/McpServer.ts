/**
 * A small MCP server (official TypeScript SDK, Streamable HTTP, stateless) on 127.0.0.1 that shows what
 * reached it.
 *
 * Testing adapter; depends on `@modelcontextprotocol/sdk` and `zod`. It has no authentication of its own:
 * it stands behind the gateway, which is expected to strip the bearer token and add identity headers
 * (`x-auth-request-*`, the oauth2-proxy convention). The `whoami` tool echoes those headers, and every
 * request's headers are recorded so a test can assert exactly what was forwarded.
 *
 * @since 0.1.0
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { type IsomorphicHeaders, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"
import { z } from "zod"
import { close, listen } from "./internal/net.ts"

/**
 * One request as the MCP server saw it.
 *
 * @category models
 * @since 0.1.0
 */
export interface RecordedRequest {
  readonly method: string
  /** Path and query. */
  readonly url: string
  /** Lower-cased header names, as Node parses them. */
  readonly headers: Readonly<IncomingMessage["headers"]>
}

/**
 * The identity headers `whoami` reports; `null` when absent.
 *
 * @category models
 * @since 0.1.0
 */
export interface WhoAmI {
  readonly user: string | null
  readonly email: string | null
  readonly scopes: string | null
  readonly client_id: string | null
}

/**
 * @category models
 * @since 0.1.0
 */
export interface McpServerOptions {
  /** Default 0 (a free port). */
  readonly port?: number
  /** Path of the MCP endpoint; default `/mcp`. */
  readonly path?: string
  /**
   * Stateful mode: the server issues an `Mcp-Session-Id` at `initialize` and keeps one transport
   * per session (requests of an unknown session get 404). Default false (stateless).
   */
  readonly stateful?: boolean
  /** More tools (each returns its own name), listed after `whoami`. Default none. */
  readonly tools?: ReadonlyArray<string>
  /**
   * `false`: stateless POSTs are answered as a `text/event-stream` (the SDK's SSE response mode)
   * instead of one JSON body. Default true.
   */
  readonly jsonResponse?: boolean
  /**
   * Awaited by every `tools/list` and by the `hold` tool (listed when this is set) before they
   * answer, so a test can keep answers in flight (e.g. two requests of one session sharing an id).
   */
  readonly hold?: () => Promise<void>
}

/**
 * A running test MCP server.
 *
 * @category models
 * @since 0.1.0
 */
export interface RunningMcpServer {
  /** `http://127.0.0.1:<port>/mcp` */
  readonly url: string
  readonly port: number
  /** Every request received, in order (including ones answered 404/405). */
  readonly requests: ReadonlyArray<RecordedRequest>
  close(): Promise<void>
}

/**
 * The header names `whoami` reads.
 *
 * @category models
 * @since 0.1.0
 */
export const identityHeaders = {
  user: "x-auth-request-user",
  email: "x-auth-request-email",
  scopes: "x-auth-request-scopes",
  client_id: "x-auth-request-client-id",
} as const

const header = (headers: IsomorphicHeaders | undefined, name: string): string | null => {
  const value = headers?.[name]
  return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value
}

const makeServer = (tools: ReadonlyArray<string> = [], hold?: () => Promise<void>): McpServer => {
  const server = new McpServer({ name: "oidc-proxy-testbed", version: "0.1.0" })
  server.registerTool(
    "whoami",
    {
      description: "Returns the identity headers (x-auth-request-*) this server received with the call.",
      outputSchema: {
        user: z.string().nullable(),
        email: z.string().nullable(),
        scopes: z.string().nullable(),
        client_id: z.string().nullable(),
      },
    },
    (extra) => {
      const headers = extra.requestInfo?.headers
      const whoami: WhoAmI = {
        user: header(headers, identityHeaders.user),
        email: header(headers, identityHeaders.email),
        scopes: header(headers, identityHeaders.scopes),
        client_id: header(headers, identityHeaders.client_id),
      }
      return { content: [{ type: "text", text: JSON.stringify(whoami) }], structuredContent: { ...whoami } }
    },
  )
  for (const name of tools)
    server.registerTool(name, { description: `The ${name} tool.` }, () => ({
      content: [{ type: "text", text: name }],
    }))
  return hold === undefined ? server : holding(server, ["whoami", ...tools], hold)
}

/** `tools/list` and the `hold` tool answer once `hold` resolves (the SDK's list handler replaced). */
const holding = (server: McpServer, names: ReadonlyArray<string>, hold: () => Promise<void>): McpServer => {
  server.registerTool("hold", { description: "Answers once the test lets it." }, async () => {
    await hold()
    return { content: [{ type: "text", text: "held" }] }
  })
  const tools = [...names, "hold"].map((name) => ({ name, inputSchema: { type: "object" as const } }))
  server.server.setRequestHandler(ListToolsRequestSchema, async () => {
    await hold()
    return { tools }
  })
  return server
}

/**
 * Starts the MCP server. Stateless mode: each POST gets a fresh server and transport (the SDK's documented
 * stateless pattern), so there is no session to leak between tests; GET and DELETE answer 405.
 *
 * @category constructors
 * @since 0.1.0
 */
export const startMcpServer = async (options: McpServerOptions = {}): Promise<RunningMcpServer> => {
  const path = options.path ?? "/mcp"
  const requests: RecordedRequest[] = []
  const sessions = new Map<string, StreamableHTTPServerTransport>()
  const http = createServer((req, res) => {
    requests.push({ method: req.method ?? "GET", url: req.url ?? "/", headers: { ...req.headers } })
    const handled =
      options.stateful === true
        ? handleStateful(path, sessions, req, res, options)
        : handle(path, req, res, options)
    handled.catch(() => {
      if (!res.headersSent) res.writeHead(500).end()
    })
  })
  const port = await listen(http, options.port ?? 0)
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    requests,
    close: async () => {
      await Promise.all([...sessions.values()].map((t) => t.close()))
      await close(http)
    },
  }
}

/** Stateful mode: one transport per `Mcp-Session-Id`, created at `initialize`. */
const handleStateful = async (
  path: string,
  sessions: Map<string, StreamableHTTPServerTransport>,
  req: IncomingMessage,
  res: ServerResponse,
  options: McpServerOptions,
): Promise<void> => {
  if (new URL(req.url ?? "/", "http://x").pathname !== path) {
    res.writeHead(404).end()
    return
  }
  const id = req.headers["mcp-session-id"]
  const existing = typeof id === "string" ? sessions.get(id) : undefined
  if (existing !== undefined) return existing.handleRequest(req, res)
  if (id !== undefined || req.method !== "POST") {
    res.writeHead(404, { "content-type": "application/json" }).end('{"error":"unknown session"}')
    return
  }
  const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
    enableJsonResponse: options.jsonResponse ?? true,
    sessionIdGenerator: () => crypto.randomUUID(),
    onsessioninitialized: (sessionId) => {
      sessions.set(sessionId, transport)
    },
  })
  await makeServer(options.tools, options.hold).connect(transport)
  await transport.handleRequest(req, res)
}

const handle = async (
  path: string,
  req: IncomingMessage,
  res: ServerResponse,
  options: McpServerOptions,
): Promise<void> => {
  if (new URL(req.url ?? "/", "http://x").pathname !== path) {
    res.writeHead(404).end()
    return
  }
  if (req.method !== "POST") {
    res.writeHead(405, { allow: "POST" }).end()
    return
  }
  const server = makeServer(options.tools, options.hold)
  // No sessionIdGenerator: stateless mode (exactOptionalPropertyTypes forbids spelling it `undefined`).
  const transport = new StreamableHTTPServerTransport({ enableJsonResponse: options.jsonResponse ?? true })
  res.on("close", () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res)
}

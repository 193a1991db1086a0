/**
 * The packages as a user gets them: every published package is built and packed (pnpm pack), the
 * gateway and the core are installed from the tarballs into an empty folder with plain
 * `npm install` (no workspace links, third-party dependencies from the registry), and then the
 * installed `oidc-proxy` answers `--help`, serves a real MCP sign-in in front of the testbed, the core
 * imports from a plain .mjs and type-checks from a .ts file, and its internal modules stay private.
 * The web-handler example's `fetch` module, importing the installed packages, serves the same
 * sign-in on Bun and Deno (loaded as is) and on workerd (bundled from the installed dist/).
 */
import { execFile } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bundleWorker, Runtimes, workerSource } from "@oidc-proxy/example-runtimes"
import { GatewayProcess, HeadlessBrowser, LocalIdp, McpClient, McpServer, Ports } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = join(import.meta.dirname, "..", "..", "..", "..")

// As a user's shell has it: no `@oidc-proxy/source` condition (the installed packages have no
// sources) and none of the npm_config_* settings pnpm passes to the processes it runs.
const plainEnv = (): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith("npm_config_")),
  ),
  NODE_OPTIONS: "",
})

const run = (cmd: string, args: ReadonlyArray<string>, cwd: string, timeout = 150_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(cmd, args, { cwd, env: plainEnv(), timeout, maxBuffer: 8 << 20 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resolve({ code, stdout, stderr })
    })
  })

describe("installed from the packed tarballs", () => {
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-install-"))
  const app = join(dir, "app")

  beforeAll(async () => {
    const packed = await run(
      process.execPath,
      [join(root, "scripts", "pack-packages.mjs"), join(dir, "tarballs")],
      root,
    )
    if (packed.code !== 0) throw new Error(`pack failed: ${packed.stderr}`)
    const tarballs: Record<string, string> = JSON.parse(packed.stdout.trim().split("\n").at(-1) ?? "{}")
    const file = (name: string) => `file:${tarballs[name]}`
    // Overrides send every @oidc-proxy/* dependency to its tarball, never to the registry.
    const overrides = Object.fromEntries(Object.keys(tarballs).map((name) => [name, file(name)]))
    mkdirSync(app)
    writeFileSync(
      join(app, "package.json"),
      JSON.stringify({
        name: "install-check",
        private: true,
        type: "module",
        dependencies: {
          "@oidc-proxy/node": file("@oidc-proxy/node"),
          "@oidc-proxy/core": file("@oidc-proxy/core"),
          // The rest of what the web-handler example imports (http and upstream-http come with node).
          "@oidc-proxy/store-memory": file("@oidc-proxy/store-memory"),
        },
        overrides,
      }),
    )
    const installed = await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], app)
    if (installed.code !== 0) throw new Error(`npm install failed: ${installed.stderr}`)
  }, 240_000)

  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("npx oidc-proxy --help - the installed bin prints the usage and exits 0", async () => {
    const { code, stdout, stderr } = await run("npx", ["--no-install", "oidc-proxy", "--help"], app, 60_000)
    expect(stderr).toBe("")
    expect(code).toBe(0)
    expect(stdout).toContain("Usage: oidc-proxy")
    expect(stdout).toContain("OIDC_PROXY_UPSTREAM_ISSUER")
  }, 60_000)

  it("the installed gateway in front of the testbed MCP server - the MCP SDK client signs in and calls a tool", async () => {
    const idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
    const mcp = await McpServer.startMcpServer()
    const url = `http://127.0.0.1:${await Ports.freePort()}`
    let gateway: GatewayProcess.GatewayProcess | undefined
    try {
      gateway = await GatewayProcess.spawnGateway(
        url,
        {
          ...GatewayProcess.localIdpEnv(url, mcp.url, idp),
          OIDC_PROXY_REQUIRED_SCOPES: "mcp:read",
          OIDC_PROXY_STORE: `sqlite:${join(dir, "gw.db")}`,
          OIDC_PROXY_SECRET: "install-test-secret-0123456789-abcdefghij",
        },
        { bin: join(app, "node_modules", ".bin", "oidc-proxy"), cwd: app },
      )
      const { client: mcpClient } = await McpClient.connectWithOAuth(`${url}/mcp`, {
        interact: HeadlessBrowser.firstOf(
          HeadlessBrowser.pressButton("decision", "approve"),
          HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
        ),
        scope: "openid email offline_access mcp:read",
      })
      const result = await mcpClient.callTool({ name: "whoami", arguments: {} })
      expect(result.structuredContent).toMatchObject({ user: "ada", scopes: "mcp:read" })
      await mcpClient.close()
    } finally {
      await gateway?.stop()
      await mcp.close()
      await idp.close()
    }
  }, 90_000)

  it("@oidc-proxy/core from a plain .mjs - imports and runs; an internal module is not exported", async () => {
    writeFileSync(
      join(app, "use.mjs"),
      [
        'import { Scopes } from "@oidc-proxy/core"',
        'console.log(JSON.stringify(Scopes.parse("openid  mcp:read")))',
      ].join("\n"),
    )
    const used = await run(process.execPath, ["use.mjs"], app, 30_000)
    expect(used.stderr).toBe("")
    expect(JSON.parse(used.stdout)).toEqual(["mcp:read", "openid"])

    writeFileSync(join(app, "internal.mjs"), 'await import("@oidc-proxy/core/internal/compactJws")\n')
    const internal = await run(process.execPath, ["internal.mjs"], app, 30_000)
    expect(internal.code).not.toBe(0)
    expect(internal.stderr).toContain("ERR_PACKAGE_PATH_NOT_EXPORTED")
  }, 60_000)

  it("@oidc-proxy/core from TypeScript - tsc --noEmit resolves the installed types, with no any", async () => {
    writeFileSync(
      join(app, "use.ts"),
      [
        'import { Scopes } from "@oidc-proxy/core"',
        'const parsed = Scopes.parse("openid")',
        // Fails to compile if `parsed` is `any` (or the import did not resolve to the real types).
        "type IsAny<T> = 0 extends 1 & T ? true : false",
        "const notAny: IsAny<typeof parsed> = false",
        "const first: string | undefined = parsed[0]",
        "// @ts-expect-error: a ScopeSet holds strings, not numbers",
        "const wrong: ReadonlyArray<number> = parsed",
        "export { first, notAny, wrong }",
      ].join("\n"),
    )
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          target: "ES2023",
          strict: true,
          noEmit: true,
        },
        files: ["use.ts"],
      }),
    )
    const tsc = await run(join(root, "node_modules", ".bin", "tsc"), ["-p", "."], app, 60_000)
    expect(tsc.stdout + tsc.stderr).toBe("")
    expect(tsc.code).toBe(0)
  }, 60_000)

  describe("the web-handler module over the installed packages, on Bun, Deno and workerd", () => {
    const inCi = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false"
    for (const runtime of Runtimes.all) {
      const absent = !runtime.present()
      if (absent && !inCi)
        console.warn(`[install] ${runtime.name} is not installed here (pnpm install brings it): skipped`)
      it.skipIf(absent && !inCi)(
        `${runtime.name} - the MCP SDK client signs in and calls a tool as ada; a forged token gets 401`,
        async () => {
          if (absent)
            throw new Error(`${runtime.name} is not installed: pnpm install brings it as a dev dependency`)
          const module = join(app, "worker.ts")
          const bundle = join(app, "worker.mjs")
          copyFileSync(workerSource, module)
          // workerd loads one file: the module with the installed packages' dist/ (no sources there).
          await bundleWorker(bundle, { input: module, fromSources: false })
          const idp = await LocalIdp.startLocalIdp({
            quiet: true,
            client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
          })
          const mcp = await McpServer.startMcpServer()
          const client = idp.clients[0]!
          try {
            const served = await runtime.serve({
              module,
              bundle,
              bindings: {
                UPSTREAM_ISSUER: idp.issuer,
                UPSTREAM_CLIENT_ID: client.client_id,
                UPSTREAM_CLIENT_SECRET: client.client_secret,
                UPSTREAM_AUDIENCE: idp.audience,
                UPSTREAM_AUTHORIZE_PARAMS: "prompt=consent",
                PROXY_SECRET: "install-test-secret-0123456789-abcdefghij",
                MCP_URL: mcp.url,
                REQUIRED_SCOPES: "mcp:read",
              },
            })
            try {
              const { me, forged } = await Runtimes.signIn(served.url)
              expect(me).toMatchObject({ user: "ada", scopes: "mcp:read" })
              expect(forged.status).toBe(401)
            } finally {
              await served.close()
            }
          } finally {
            await mcp.close()
            await idp.close()
          }
        },
        45_000,
      )
    }
  })
})

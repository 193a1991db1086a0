/**
 * Launchers for a Web `fetch` module (`export default { fetch(request, env) }`) on Bun, Deno and
 * workerd (through miniflare), each in its own process on 127.0.0.1, and the sign-in every test
 * drives through them: the real MCP SDK client registers, authorizes, consents, signs in at the
 * testbed IdP, exchanges the code and calls `whoami`; then a forged bearer token is sent.
 *
 * Test helper (Node side). The runtimes are this package's dev dependencies (npm `bun`, `deno`,
 * `miniflare`); `present()` says whether the binary is installed.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { HeadlessBrowser, McpClient, type McpServer, Ports } from "@oidc-proxy/testbed"

const require = createRequire(import.meta.url)
const serveScript = join(import.meta.dirname, "serve.ts")

/**
 * A module served on a runtime; `close` stops it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Served {
  readonly url: string
  readonly close: () => Promise<void>
}

/**
 * What to serve: `module` is loaded as is by Bun and Deno (TypeScript or JavaScript, its imports
 * resolved from its folder's `node_modules`); `bundle` is the same module as one ESM file with no
 * imports, for workerd. `bindings` become `env` (without `ISSUER`: each launcher sets its own URL).
 *
 * @category models
 * @since 0.1.0
 */
export interface Target {
  readonly module: string
  readonly bundle: string
  readonly bindings: Readonly<Record<string, string>>
}

/**
 * A runtime the module can be served on.
 *
 * @category models
 * @since 0.1.0
 */
export interface Runtime {
  readonly name: string
  readonly present: () => boolean
  readonly serve: (target: Target) => Promise<Served>
}

/** The binary as its npm package installs it: linked by its postinstall, or from its platform package. */
const binaryOf = (pkg: string, file: string, platformPackage: string, platformFile: string) => {
  try {
    const home = dirname(require.resolve(`${pkg}/package.json`))
    const linked = join(home, file)
    // Without its postinstall, `bun` has a small shell script there that only prints an error.
    if (existsSync(linked) && statSync(linked).size > 1_000_000) return linked
    const platform = join(
      dirname(createRequire(join(home, "package.json")).resolve(`${platformPackage}/package.json`)),
      platformFile,
    )
    return existsSync(platform) ? platform : undefined
  } catch {
    return undefined
  }
}
const arm = process.arch === "arm64"
const bunBinary = () =>
  binaryOf("bun", "bin/bun.exe", `@oven/bun-${process.platform}-${arm ? "aarch64" : "x64"}`, "bin/bun")
const denoBinary = () =>
  binaryOf(
    "deno",
    "deno",
    `@deno/${process.platform}-${arm ? "arm64" : "x64"}${process.platform === "linux" ? "-glibc" : ""}`,
    "deno",
  )
const workerdPresent = () => {
  try {
    return existsSync((require("workerd") as { default: string }).default ?? "")
  } catch {
    return false
  }
}

/** Starts `serve.ts` under Bun or Deno and waits (at most 20 s) for its `listening <url>` line. */
const serveWith = (command: string, args: ReadonlyArray<string>, target: Target): Promise<Served> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, [...args, serveScript, target.module], {
      cwd: dirname(target.module),
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: tmpdir(),
        WORKER_ENV: JSON.stringify(target.bindings),
        NO_COLOR: "1",
      },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let out = ""
    let err = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${command} did not listen within 20 s: ${err}`))
    }, 20_000)
    const close = () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done()
        child.once("exit", () => done())
        child.kill("SIGTERM")
      })
    child.stderr!.on("data", (c: Buffer) => {
      err += c.toString()
    })
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString()
      const match = /listening (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ url: match[1]!, close })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited ${code}: ${err}`))
    })
  })

/** The bundle as a workerd module through miniflare, on a free port (the issuer must name it before start). */
const serveWithMiniflare = async (target: Target): Promise<Served> => {
  const { Miniflare } = await import("miniflare")
  const port = await Ports.freePort()
  const url = `http://127.0.0.1:${port}`
  const mf = new Miniflare({
    modules: true,
    scriptPath: target.bundle,
    // Module names are relative to this root; the default (the working directory) may be below it.
    modulesRoot: dirname(target.bundle),
    compatibilityDate: "2026-01-01",
    bindings: { ...target.bindings, ISSUER: url },
    host: "127.0.0.1",
    port,
  })
  await mf.ready
  return { url, close: () => mf.dispose() }
}

/**
 * Bun (`Bun.serve`), Deno (`Deno.serve`, network limited to 127.0.0.1, reads limited to the
 * module's folder) and workerd (miniflare).
 *
 * @category constructors
 * @since 0.1.0
 */
export const all: ReadonlyArray<Runtime> = [
  { name: "Bun", present: () => bunBinary() !== undefined, serve: (t) => serveWith(bunBinary()!, [], t) },
  {
    name: "Deno",
    present: () => denoBinary() !== undefined,
    serve: (t) =>
      serveWith(
        denoBinary()!,
        [
          "run",
          "--quiet",
          "--no-prompt",
          "--allow-net=127.0.0.1",
          `--allow-read=${dirname(t.module)}`,
          "--allow-env=WORKER_ENV",
        ],
        t,
      ),
  },
  { name: "workerd (miniflare)", present: workerdPresent, serve: serveWithMiniflare },
]

/**
 * What one sign-in through `url` showed: the identity the MCP server received, the wall time of the
 * sign-in and tool call, and the answer to a forged bearer token.
 *
 * @category models
 * @since 0.1.0
 */
export interface SignIn {
  readonly me: McpServer.WhoAmI
  readonly ms: number
  readonly forged: { readonly status: number; readonly challenge: string | null }
}

/**
 * Signs in as `ada` through the proxy at `url` with the MCP SDK client and calls `whoami`, then
 * sends a made-up bearer token to `{url}/mcp`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const signIn = async (url: string): Promise<SignIn> => {
  const started = performance.now()
  const { client } = await McpClient.connectWithOAuth(`${url}/mcp`, {
    scope: "openid email offline_access mcp:read",
    interact: HeadlessBrowser.firstOf(
      HeadlessBrowser.pressButton("decision", "approve"),
      HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
    ),
  })
  const result = await client.callTool({ name: "whoami", arguments: {} })
  await client.close()
  const ms = Math.round(performance.now() - started)
  const forged = await fetch(`${url}/mcp`, {
    method: "POST",
    headers: {
      authorization: "Bearer not-a-token-this-proxy-issued",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  })
  await forged.body?.cancel()
  return {
    me: result.structuredContent as unknown as McpServer.WhoAmI,
    ms,
    forged: { status: forged.status, challenge: forged.headers.get("www-authenticate") },
  }
}

/**
 * The proxy's Web `fetch` module (packages/examples/web-handler/src/worker.ts, memory store),
 * bundled once, served by Bun (`Bun.serve`), Deno (`Deno.serve`) and workerd (through miniflare),
 * each in its own process on 127.0.0.1 in front of the testbed's IdP (oidc-provider) and MCP
 * server. On each runtime the real MCP SDK client registers, authorizes, consents, signs in at the
 * IdP, comes back through the callback, exchanges the code and calls `whoami` (the identity reaches
 * the MCP server); a made-up bearer token gets 401.
 *
 * The runtimes come as dev dependencies (npm packages `bun`, `deno`, `miniflare`); one that is
 * absent is skipped with a message, except in CI where it fails.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs"
import { createRequire } from "node:module"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { HeadlessBrowser, LocalIdp, McpClient, McpServer } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bundleWorker } from "../src/bundle.ts"

const require = createRequire(import.meta.url)
const inCi = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false"
const serveScript = join(import.meta.dirname, "..", "src", "serve.ts")

/**
 * The runtime's binary as its npm package installs it: linked by its postinstall script, or else
 * straight from the platform package it depends on (when install scripts did not run).
 */
const binaryOf = (
  pkg: string,
  file: string,
  platformPackage: string,
  platformFile: string,
): string | undefined => {
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
const arch = process.arch === "arm64" ? { bun: "aarch64", deno: "arm64" } : { bun: "x64", deno: "x64" }
const bun = () => binaryOf("bun", "bin/bun.exe", `@oven/bun-${process.platform}-${arch.bun}`, "bin/bun")
const deno = () =>
  binaryOf(
    "deno",
    "deno",
    `@deno/${process.platform}-${arch.deno}${process.platform === "linux" ? "-glibc" : ""}`,
    "deno",
  )
const workerdPresent = (): boolean => {
  try {
    return existsSync((require("workerd") as { default: string }).default ?? "")
  } catch {
    return false
  }
}

interface Served {
  readonly url: string
  readonly close: () => Promise<void>
}
type Bindings = Record<string, string>

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0))
    })
  })

/** Starts `serve.ts` under Bun or Deno and waits (at most 20 s) for its `listening <url>` line. */
const serveWith = (command: string, args: ReadonlyArray<string>, bindings: Bindings): Promise<Served> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, args, {
      env: {
        PATH: process.env["PATH"] ?? "",
        HOME: tmpdir(),
        WORKER_ENV: JSON.stringify(bindings),
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
const serveWithMiniflare = async (bundle: string, bindings: Bindings): Promise<Served> => {
  const { Miniflare } = await import("miniflare")
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundle,
    // Module names are relative to this root; the default (the working directory) is above /tmp.
    modulesRoot: dirname(bundle),
    compatibilityDate: "2026-01-01",
    bindings: { ...bindings, ISSUER: url },
    host: "127.0.0.1",
    port,
  })
  await mf.ready
  return { url, close: () => mf.dispose() }
}

describe("the Web fetch module on Bun, Deno and workerd", () => {
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-runtimes-"))
  const bundle = join(dir, "worker.mjs")
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let bindings: Bindings

  beforeAll(async () => {
    await bundleWorker(bundle)
    idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
    mcp = await McpServer.startMcpServer()
    const client = idp.clients[0]!
    bindings = {
      UPSTREAM_ISSUER: idp.issuer,
      UPSTREAM_CLIENT_ID: client.client_id,
      UPSTREAM_CLIENT_SECRET: client.client_secret,
      UPSTREAM_AUDIENCE: idp.audience,
      // OpenID Connect Core §11: the IdP grants offline_access only with prompt=consent.
      UPSTREAM_AUTHORIZE_PARAMS: "prompt=consent",
      PROXY_SECRET: "runtimes-test-secret-0123456789abcdef",
      MCP_URL: mcp.url,
      REQUIRED_SCOPES: "mcp:read",
    }
  }, 60_000)

  afterAll(async () => {
    await mcp?.close()
    await idp?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Sign-in and a protected call through `served`, then a made-up token; returns the flow's wall time. */
  const flowThrough = async (runtime: string, served: Served) => {
    try {
      const started = performance.now()
      const { client } = await McpClient.connectWithOAuth(`${served.url}/mcp`, {
        scope: "openid email offline_access mcp:read",
        interact: HeadlessBrowser.firstOf(
          HeadlessBrowser.pressButton("decision", "approve"),
          HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
        ),
      })
      const result = await client.callTool({ name: "whoami", arguments: {} })
      await client.close()
      const elapsed = performance.now() - started
      const me = result.structuredContent as unknown as McpServer.WhoAmI
      expect(me.user).toBe("ada")
      expect(me.scopes).toBe("mcp:read")
      expect(me.client_id).not.toBeNull()

      const forged = await fetch(`${served.url}/mcp`, {
        method: "POST",
        headers: {
          authorization: "Bearer not-a-token-this-proxy-issued",
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      })
      expect(forged.status).toBe(401)
      expect(forged.headers.get("www-authenticate")).toMatch(/^Bearer /)
      await forged.body?.cancel()
      console.log(`[runtimes] ${runtime}: sign-in and protected call in ${Math.round(elapsed)} ms`)
    } finally {
      await served.close()
    }
  }

  const runtimes = [
    {
      name: "Bun",
      present: () => bun() !== undefined,
      serve: () => serveWith(bun()!, [serveScript, bundle], bindings),
    },
    {
      name: "Deno",
      present: () => deno() !== undefined,
      serve: () =>
        serveWith(
          deno()!,
          [
            "run",
            "--quiet",
            "--no-prompt",
            "--allow-net=127.0.0.1",
            `--allow-read=${dir}`,
            "--allow-env=WORKER_ENV",
            serveScript,
            bundle,
          ],
          bindings,
        ),
    },
    {
      name: "workerd (miniflare)",
      present: workerdPresent,
      serve: () => serveWithMiniflare(bundle, bindings),
    },
  ]

  for (const runtime of runtimes) {
    const absent = !runtime.present()
    if (absent && !inCi)
      console.warn(`[runtimes] ${runtime.name} is not installed here (pnpm install brings it): skipped`)
    it.skipIf(absent && !inCi)(
      `${runtime.name} - the MCP SDK client signs in through the module and calls a tool as ada; a forged token gets 401`,
      async () => {
        if (absent)
          throw new Error(`${runtime.name} is not installed: pnpm install brings it as a dev dependency`)
        await flowThrough(runtime.name, await runtime.serve())
      },
      30_000,
    )
  }
})

/**
 * The proxy's Web `fetch` module (packages/examples/web-handler/src/worker.ts, memory store),
 * bundled once from the workspace sources, served by Bun (`Bun.serve`), Deno (`Deno.serve`) and
 * workerd (through miniflare), each in its own process on 127.0.0.1 in front of the testbed's IdP
 * (oidc-provider) and MCP server. On each runtime the real MCP SDK client registers, authorizes,
 * consents, signs in at the IdP, comes back through the callback, exchanges the code and calls
 * `whoami` (the identity reaches the MCP server); a forged bearer token gets 401.
 *
 * The runtimes come as dev dependencies (npm packages `bun`, `deno`, `miniflare`); one that is
 * absent is skipped with a message, except in CI where it fails. The same sign-in over the packed and
 * npm-installed packages: packages/examples/integration/test/InstalledPackages.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { LocalIdp, McpServer } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { bundleWorker } from "../src/bundle.ts"
import * as Runtimes from "../src/Runtimes.ts"

const inCi = process.env["CI"] !== undefined && process.env["CI"] !== "" && process.env["CI"] !== "false"

describe("the Web fetch module on Bun, Deno and workerd", () => {
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-runtimes-"))
  const bundle = join(dir, "worker.mjs")
  let idp: LocalIdp.LocalIdp
  let mcp: McpServer.RunningMcpServer
  let bindings: Record<string, string>

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

  for (const runtime of Runtimes.all) {
    const absent = !runtime.present()
    if (absent && !inCi)
      console.warn(`[runtimes] ${runtime.name} is not installed here (pnpm install brings it): skipped`)
    it.skipIf(absent && !inCi)(
      `${runtime.name} - the MCP SDK client signs in through the module and calls a tool as ada; a forged token gets 401`,
      async () => {
        if (absent)
          throw new Error(`${runtime.name} is not installed: pnpm install brings it as a dev dependency`)
        const served = await runtime.serve({ module: bundle, bundle, bindings })
        try {
          const { me, ms, forged } = await Runtimes.signIn(served.url)
          expect(me.user).toBe("ada")
          expect(me.scopes).toBe("mcp:read")
          expect(me.client_id).not.toBeNull()
          expect(forged.status).toBe(401)
          expect(forged.challenge).toMatch(/^Bearer /)
          console.log(`[runtimes] ${runtime.name}: sign-in and protected call in ${ms} ms`)
        } finally {
          await served.close()
        }
      },
      30_000,
    )
  }
})

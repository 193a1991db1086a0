/**
 * The `oidc-proxy` binary in front of the testbed's MCP server, against its {@link LocalIdp}: the
 * three started together on free 127.0.0.1 ports, with a scratch folder for the gateway's files
 * (a SQLite store, a policy), and closed together.
 *
 * Test support. Every start has a matching `close`.
 *
 * @since 0.1.0
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type GatewayProcess, localIdpEnv, type SpawnOptions, spawnGateway } from "./GatewayProcess.ts"
import { type LocalIdp, type LocalIdpOptions, startLocalIdp } from "./LocalIdp.ts"
import { type McpServerOptions, type RunningMcpServer, startMcpServer } from "./McpServer.ts"
import { freePort } from "./Ports.ts"

/** @since 0.1.0 */
export interface LocalIdpGateway {
  readonly idp: LocalIdp
  readonly mcp: RunningMcpServer
  readonly gateway: GatewayProcess
  /** The gateway's base URL. */
  readonly url: string
  /** The scratch folder, removed by `close`. */
  readonly dir: string
  /** Stops the gateway, the MCP server and the IdP, and removes the scratch folder. */
  readonly close: () => Promise<void>
}

/** @since 0.1.0 */
export interface LocalIdpGatewayOptions {
  /** Over the default: quiet, a client allowed any loopback redirect port. */
  readonly idp?: LocalIdpOptions
  readonly mcp?: McpServerOptions
  /** The folder's name prefix in the system's temporary folder. */
  readonly dirPrefix?: string
  /** Files written into `dir` before the spawn (a policy), by name. */
  readonly files?: Readonly<Record<string, string>>
  /** The environment on top of {@link localIdpEnv}: store, secret and the rest. */
  readonly env: (bed: {
    readonly url: string
    readonly dir: string
    readonly idp: LocalIdp
  }) => Record<string, string>
  readonly spawn?: SpawnOptions
}

/**
 * Starts the IdP, the MCP server and the binary (testbed's `spawnGateway`) in front of them; a
 * start that fails closes what it had started.
 *
 * @since 0.1.0
 */
export const start = async (options: LocalIdpGatewayOptions): Promise<LocalIdpGateway> => {
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix ?? "oidc-proxy-bed-"))
  const started: { idp?: LocalIdp; mcp?: RunningMcpServer; gateway?: GatewayProcess } = {}
  const close = async () => {
    await started.gateway?.stop()
    await started.mcp?.close()
    await started.idp?.close()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const idp = await startLocalIdp({
      quiet: true,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
      ...options.idp,
    })
    started.idp = idp
    const mcp = await startMcpServer(options.mcp)
    started.mcp = mcp
    const url = `http://127.0.0.1:${await freePort()}`
    for (const [name, text] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), text)
    const env = { ...localIdpEnv(url, mcp.url, idp), ...options.env({ url, dir, idp }) }
    const gateway = await spawnGateway(url, env, options.spawn)
    started.gateway = gateway
    return { idp, mcp, gateway, url, dir, close }
  } catch (error) {
    await close()
    throw error
  }
}

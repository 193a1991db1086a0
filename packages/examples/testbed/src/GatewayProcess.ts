/**
 * The `oidc-proxy` binary as a child process, configured only through its environment, and the
 * environment that puts it in front of a target against the testbed's {@link LocalIdp}.
 *
 * Test support. The child listens on 127.0.0.1; every spawn has a matching `stop`.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import type { LocalIdp } from "./LocalIdp.ts"
import { waitFor } from "./Polling.ts"

/** The workspace's binary (packages/adapters/node/bin). */
const workspaceBin = join(import.meta.dirname, "..", "..", "..", "adapters", "node", "bin", "oidc-proxy.mjs")

/** @since 0.1.0 */
export interface GatewayProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Everything the process wrote (stdout and stderr). */
  readonly output: () => string
  /** Sends `signal` and resolves once the process has exited. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<void>
}

/** @since 0.1.0 */
export interface SpawnOptions {
  /** The binary to run with Node; default the workspace's. */
  readonly bin?: string
  readonly cwd?: string
  /** How long to wait for `/readyz`; default 20 s (a loaded machine may need more). */
  readonly readyTimeoutMs?: number
}

/**
 * Spawns the binary with exactly `env` (plus PATH) and waits for `/readyz` (20 s by default); a
 * process that exits first (e.g. refused its configuration) fails the start at once.
 *
 * @since 0.1.0
 */
export const spawnGateway = async (
  url: string,
  env: Record<string, string>,
  options: SpawnOptions = {},
): Promise<GatewayProcess> => {
  const child = spawn(process.execPath, [options.bin ?? workspaceBin], {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { PATH: process.env["PATH"] ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  child.stdout?.on("data", (d) => {
    output += String(d)
  })
  child.stderr?.on("data", (d) => {
    output += String(d)
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  try {
    const ready = await waitFor(
      "the gateway's /readyz",
      async () => {
        if (child.exitCode !== null) return "exited"
        return (await fetch(`${url}/readyz`)).status === 200 ? "ready" : undefined
      },
      { timeoutMs: options.readyTimeoutMs ?? 20_000 },
    )
    if (ready === "exited") throw new Error(`gateway exited ${child.exitCode}`)
  } catch (error) {
    await stop("SIGKILL")
    throw new Error(`${String(error)}\n${output}`)
  }
  return { url, child, output: () => output, stop }
}

/**
 * The gateway's environment at `baseUrl` in front of `target`, against `idp`'s first client
 * (scopes `openid email`, `prompt=consent` so the IdP grants `offline_access`). Store, secret and
 * the rest come from the caller.
 *
 * @since 0.1.0
 */
export const localIdpEnv = (baseUrl: string, target: string, idp: LocalIdp): Record<string, string> => {
  const client = idp.clients[0]!
  return {
    OIDC_PROXY_BASE_URL: baseUrl,
    OIDC_PROXY_TARGET: target,
    OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
    OIDC_PROXY_UPSTREAM_CLIENT_ID: client.client_id,
    OIDC_PROXY_UPSTREAM_CLIENT_SECRET: client.client_secret,
    OIDC_PROXY_UPSTREAM_SCOPES: "openid email",
    OIDC_PROXY_UPSTREAM_AUDIENCE: idp.audience,
    OIDC_PROXY_UPSTREAM_EXTRA_PARAMS: "prompt=consent",
  }
}

/**
 * The `oidc-proxy` command: `--help` prints the variables; `check` validates the configuration,
 * the upstream IdP and the store without serving; otherwise the environment is decoded and the
 * gateway started until SIGTERM/SIGINT; SIGHUP reloads the MCP policy file.
 *
 * Entry point (process edge): the only module that reads `process.env`, writes to stdout/stderr
 * directly and exits. Exit codes: 0 after a clean shutdown, `--help` or a passing `check`, 2 for a
 * bad configuration (each bad or unknown variable named on its own stderr line), 1 when the
 * gateway cannot start or `check` cannot reach the IdP or the store. No stack trace is printed.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import * as ConfigCheck from "./ConfigCheck.ts"
import * as Gateway from "./Gateway.ts"
import * as GatewayConfig from "./GatewayConfig.ts"

/** The first line of an error's message: enough to act on, never a stack. */
const describe = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error)
  return message.split("\n")[0]?.slice(0, 500) ?? "unknown error"
}

const main = async (argv: ReadonlyArray<string>): Promise<void> => {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(GatewayConfig.help())
    return
  }
  const args = argv.filter((a) => a !== "--")
  if (args.length === 1 && args[0] === "check") {
    const { stdout, stderr, exitCode } = ConfigCheck.format(await ConfigCheck.run(process.env))
    process.stdout.write(stdout)
    process.stderr.write(stderr)
    // Exit now: a store client that failed to connect may still hold the event loop.
    process.stdout.end(() => process.exit(exitCode))
    return
  }
  const unknown = args
  if (unknown.length > 0) {
    process.stderr.write(
      `oidc-proxy: unknown argument ${JSON.stringify(unknown[0])}; see oidc-proxy --help\n`,
    )
    process.exitCode = 2
    return
  }
  const decoded = GatewayConfig.decode(process.env)
  if (Result.isFailure(decoded)) {
    for (const issue of decoded.failure.issues) process.stderr.write(`oidc-proxy: ${issue}\n`)
    process.stderr.write("oidc-proxy: see oidc-proxy --help\n")
    process.exitCode = 2
    return
  }
  let gateway: Gateway.Gateway
  try {
    gateway = await Gateway.start(decoded.success)
  } catch (error) {
    process.stderr.write(`oidc-proxy: cannot start: ${describe(error)}\n`)
    process.exitCode = 1
    return
  }
  process.stdout.write(
    `oidc-proxy listening on ${gateway.url}${gateway.metricsUrl === undefined ? "" : ` (metrics on ${gateway.metricsUrl}/metrics)`}\n`,
  )
  const stop = () => {
    // A second signal while draining exits at once.
    process.once("SIGTERM", () => process.exit(1))
    process.once("SIGINT", () => process.exit(1))
    gateway.shutdown().then(
      () => process.exit(0),
      (error) => {
        process.stderr.write(`oidc-proxy: shutdown failed: ${describe(error)}\n`)
        process.exit(1)
      },
    )
  }
  process.once("SIGTERM", stop)
  process.once("SIGINT", stop)
  // Only with a policy: otherwise SIGHUP keeps its default meaning. The gateway logs the outcome;
  // connections are untouched either way.
  if (decoded.success.policyPath !== undefined) process.on("SIGHUP", () => gateway.reloadPolicy())
}

await main(process.argv.slice(2))

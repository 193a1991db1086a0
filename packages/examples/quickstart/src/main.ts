/**
 * `npm run demo`: the quickstart (see Demo.ts). `--once` exits after the transcript; `--port N`
 * picks the gateway's port (default 8080; 0 = any free port).
 */
import { run } from "./Demo.ts"

const args = process.argv.slice(2)
const once = args.includes("--once")
const portArg = args[args.indexOf("--port") + 1]
const port =
  args.includes("--port") && portArg !== undefined
    ? Number(portArg)
    : Number(process.env.OIDC_PROXY_DEMO_PORT ?? 8080)

try {
  await run({ once, port, print: (line) => console.log(line) })
  process.exit(0)
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}

/**
 * Serves a bundled Web `fetch` module (`export default { fetch(request, env) }`) under Bun or Deno:
 * `bun src/serve.ts <module.mjs>` or `deno run --allow-net --allow-read --allow-env src/serve.ts
 * <module.mjs>`. Listens on 127.0.0.1 on a free port, hands the module the bindings from the
 * `WORKER_ENV` JSON with `ISSUER` set to its own URL, and prints `listening <url>` on stdout.
 *
 * Test program: only Web APIs and the runtime's own server (`Bun.serve` / `Deno.serve`), no Node API.
 *
 * @since 0.1.0
 */

type Handler = (request: Request) => Promise<Response>
interface FetchModule {
  readonly fetch: (request: Request, env: Record<string, string>) => Promise<Response>
}
interface BunLike {
  readonly argv: ReadonlyArray<string>
  readonly env: Record<string, string | undefined>
  serve(options: { hostname: string; port: number; fetch: Handler }): { readonly port: number }
}
interface DenoLike {
  readonly args: ReadonlyArray<string>
  readonly env: { get(name: string): string | undefined }
  serve(
    options: { hostname: string; port: number; onListen: (addr: { port: number }) => void },
    handler: Handler,
  ): unknown
}

const runtime = globalThis as unknown as { Bun?: BunLike; Deno?: DenoLike }

const modulePath = runtime.Bun?.argv[2] ?? runtime.Deno?.args[0]
const bindings = runtime.Bun?.env["WORKER_ENV"] ?? runtime.Deno?.env.get("WORKER_ENV")
if (modulePath === undefined || bindings === undefined)
  throw new Error("usage: serve.ts <module.mjs> with WORKER_ENV")

const worker = (
  (await import(new URL(modulePath, `file://${modulePath.startsWith("/") ? "" : "/"}`).href)) as {
    default: FetchModule
  }
).default
let env: Record<string, string> | undefined
const handler: Handler = (request) =>
  env === undefined ? Promise.resolve(new Response(null, { status: 503 })) : worker.fetch(request, env)
const listening = (port: number) => {
  const url = `http://127.0.0.1:${port}`
  env = { ...(JSON.parse(bindings) as Record<string, string>), ISSUER: url }
  console.log(`listening ${url}`)
}

if (runtime.Bun !== undefined) {
  listening(runtime.Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handler }).port)
} else if (runtime.Deno !== undefined) {
  runtime.Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => listening(port) }, handler)
}

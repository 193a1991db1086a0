#!/usr/bin/env node
// The `oidc-proxy` launcher: checks the Node version (Effect 4 and node:sqlite need ≥ 22.19, and
// running the .ts sources needs type stripping) before importing the entry point, so a too-old Node
// gets one clear line instead of a syntax error. Installed from npm it runs the built dist/main.js;
// in a clone (src/ present, not published) it runs the TypeScript sources.
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`oidc-proxy: Node.js >= 22.19 is required (this is ${process.versions.node})\n`)
  process.exit(2)
}
// V8's allocation-site pretenuring off before any module loads: with the proxy's module graph
// evaluated, V8 pretenures sites that node:http's and undici's per-request objects also go through,
// so short-lived objects land in the old generation and pay for mark-compacts (~15 µs of CPU a
// forwarded request, bench/README.md round 6). Set here, for the gateway's own process only —
// `Gateway.start` leaves the flags of a process that embeds it alone.
const { setFlagsFromString } = await import("node:v8")
setFlagsFromString("--no-allocation-site-pretenuring")
const source = new URL("../src/main.ts", import.meta.url)
const { existsSync } = await import("node:fs")
if (existsSync(source)) {
  // The workspace packages resolve to their sources under the `@oidc-proxy/source` export
  // condition (as vitest and tsc do), so the clone runs without a build step.
  const { registerHooks } = await import("node:module")
  registerHooks({
    resolve: (specifier, context, next) =>
      next(specifier, { ...context, conditions: [...context.conditions, "@oidc-proxy/source"] }),
  })
  await import(source.href)
} else {
  await import("../dist/main.js")
}

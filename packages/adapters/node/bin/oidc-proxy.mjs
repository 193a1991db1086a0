#!/usr/bin/env node
// The `oidc-proxy` launcher: checks the Node version (Effect 4 and node:sqlite need ≥ 22.19, and
// running the .ts sources needs type stripping) before importing the TypeScript entry point, so a
// too-old Node gets one clear line instead of a syntax error.
const [major, minor] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`oidc-proxy: Node.js >= 22.19 is required (this is ${process.versions.node})\n`)
  process.exit(2)
}
await import("../src/main.ts")

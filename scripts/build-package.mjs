// Builds the package in the current folder for publishing: a clean dist/ with ESM JavaScript and
// .d.ts from src/ (tsc -p tsconfig.build.json). tsc rewrites relative `./x.ts` imports to `./x.js`
// in the JavaScript it emits but leaves some of them as written in the .d.ts files, which a
// consumer's TypeScript then cannot resolve; the .d.ts specifiers are rewritten here the same way.
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"

rmSync("dist", { recursive: true, force: true })
execFileSync("tsc", ["-p", "tsconfig.build.json"], { stdio: "inherit" })

const relativeTs = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.ts(["'])/g
for (const entry of readdirSync("dist", { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith(".d.ts")) continue
  const file = join(entry.parentPath, entry.name)
  const text = readFileSync(file, "utf8")
  const fixed = text.replace(relativeTs, "$1$2.js$3")
  if (fixed !== text) writeFileSync(file, fixed)
}

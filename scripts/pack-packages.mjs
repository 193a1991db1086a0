// Builds and packs every published package (packages/core and packages/adapters/*, not private)
// into one folder: `node scripts/pack-packages.mjs <out-dir> [--no-build]`. Prints one line per
// tarball (name, file, packed size) and, last, a JSON line {name: tarball path} for scripts that
// install them. pnpm pack applies publishConfig (exports without the source condition) and turns
// `workspace:*` into the released version.
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, resolve } from "node:path"

const root = resolve(import.meta.dirname, "..")
const out = resolve(process.argv[2] ?? join(root, "dist-packages"))
const build = !process.argv.includes("--no-build")

const candidates = [
  "packages/core",
  ...readdirSync(join(root, "packages/adapters")).map((d) => `packages/adapters/${d}`),
]
const published = candidates
  .map((dir) => ({ dir: join(root, dir), file: join(root, dir, "package.json") }))
  .filter(({ file }) => existsSync(file))
  .map(({ dir, file }) => ({ dir, manifest: JSON.parse(readFileSync(file, "utf8")) }))
  .filter(({ manifest }) => manifest.private !== true)

// The build needs no source condition: tsc resolves sibling packages to their built dist/.
const env = { ...process.env, NODE_OPTIONS: "" }
if (build) {
  const filters = published.flatMap(({ manifest }) => ["--filter", manifest.name])
  execFileSync("pnpm", [...filters, "run", "build"], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
    env,
  })
}
mkdirSync(out, { recursive: true })
const tarballs = {}
for (const { dir, manifest } of published) {
  const json = execFileSync("pnpm", ["pack", "--json", "--pack-destination", out], {
    cwd: dir,
    env,
    encoding: "utf8",
  })
  const { filename } = JSON.parse(json)
  const file = resolve(out, filename)
  tarballs[manifest.name] = file
  const kb = (statSync(file).size / 1024).toFixed(1)
  process.stdout.write(`${manifest.name.padEnd(28)} ${kb.padStart(7)} kB  ${file}\n`)
}
process.stdout.write(`${JSON.stringify(tarballs)}\n`)

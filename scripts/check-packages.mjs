// Lints what would be published: packs every published package (scripts/pack-packages.mjs, which
// builds first unless --no-build) and runs publint and @arethetypeswrong/cli on each tarball. ESM
// only (`--profile esm-only`): the packages ship no CommonJS. Exit 1 when any package has an error
// or a warning; one summary line per package either way.
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { publint } from "publint"
import { formatMessage } from "publint/utils"

const root = resolve(import.meta.dirname, "..")
const out = mkdtempSync(join(tmpdir(), "oidc-proxy-pack-"))
const packed = execFileSync(
  process.execPath,
  [join(root, "scripts/pack-packages.mjs"), out, ...process.argv.slice(2)],
  {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  },
)
const lines = packed.trim().split("\n")
process.stdout.write(`${lines.slice(0, -1).join("\n")}\n`)
const tarballs = JSON.parse(lines.at(-1))

let failed = false
for (const [name, tarball] of Object.entries(tarballs)) {
  const data = readFileSync(tarball)
  const { messages, pkg } = await publint({
    pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) },
    strict: true,
  })
  for (const m of messages)
    process.stdout.write(`  publint ${m.type}: ${name}: ${formatMessage(m, pkg) ?? m.code}\n`)
  const attw = spawnSync(
    join(root, "node_modules/.bin/attw"),
    [tarball, "--profile", "esm-only", "--format", "ascii", "--no-color"],
    {
      encoding: "utf8",
    },
  )
  if (attw.status !== 0) process.stdout.write(`  attw: ${name}:\n${attw.stdout}${attw.stderr}\n`)
  const ok = messages.length === 0 && attw.status === 0
  failed ||= !ok
  process.stdout.write(
    `${ok ? "ok  " : "FAIL"} ${name}: publint ${messages.length} message(s), attw exit ${attw.status}\n`,
  )
}
rmSync(out, { recursive: true, force: true })
process.exit(failed ? 1 : 0)

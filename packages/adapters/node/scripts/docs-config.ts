/**
 * `npm run docs:config`: writes the configuration table generated from `GatewayConfig`'s table
 * into the READMEs that carry it (between `<!-- variables:start -->` and `<!-- variables:end -->`).
 * `RootReadme.test.ts` and `GatewayConfig.test.ts` fail while a README disagrees with the table.
 *
 * @since 0.1.0
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as GatewayConfig from "../src/GatewayConfig.ts"

const root = join(import.meta.dirname, "..", "..", "..", "..")
const marked = /(<!-- variables:start -->\n)[\s\S]*?(\n<!-- variables:end -->)/

for (const file of ["README.md", "packages/adapters/node/README.md"]) {
  const path = join(root, file)
  const text = readFileSync(path, "utf8")
  if (!marked.test(text))
    throw new Error(`${file}: no <!-- variables:start --> … <!-- variables:end --> block`)
  const next = text.replace(
    marked,
    (_, start: string, end: string) => `${start}${GatewayConfig.markdownTable()}${end}`,
  )
  if (next !== text) writeFileSync(path, next)
  process.stdout.write(`${file}: ${next === text ? "up to date" : "updated"}\n`)
}

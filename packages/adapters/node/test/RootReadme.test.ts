import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as GatewayConfig from "../src/GatewayConfig.ts"

describe("root README", () => {
  it("its configuration table is the one generated from GatewayConfig", () => {
    const readme = readFileSync(join(import.meta.dirname, "..", "..", "..", "..", "README.md"), "utf8")
    const table = /<!-- variables:start -->\n([\s\S]*?)\n<!-- variables:end -->/.exec(readme)?.[1]
    assert.strictEqual(
      table,
      GatewayConfig.markdownTable(),
      "the README table disagrees with GatewayConfig's table: run npm run docs:config",
    )
  })
})

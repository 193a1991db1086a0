import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, it } from "@effect/vitest"
import { SharedStore } from "@oidc-proxy/store-testkit"
import { Effect } from "effect"
import { afterAll } from "vitest"
import { SqliteStore } from "../src/index.ts"

const dir = mkdtempSync(join(tmpdir(), "sqlite-tokens-at-rest-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Every byte SQLite has written for the database: the main file, the WAL and its index. */
const fileBytes = (filename: string): Buffer =>
  Buffer.concat(
    readdirSync(dir)
      .filter((f) => join(dir, f).startsWith(filename))
      .map((f) => readFileSync(join(dir, f))),
  )

describe("SqliteStore with TokenStore", () => {
  it.effect("upstreamTokenSets - no upstream token is in the database file in clear", () =>
    Effect.gen(function* () {
      const filename = join(dir, "tokens.db")
      const { written, scanned } = yield* SharedStore.writeUpstreamTokenSet(
        SqliteStore.layer({ filename }),
        Effect.sync(() => fileBytes(filename)),
      )
      for (const bytes of [scanned, fileBytes(filename)])
        SharedStore.assertNotInClear(written, (text) => bytes.includes(text), "the file")
    }),
  )
})

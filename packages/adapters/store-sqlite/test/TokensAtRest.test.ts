import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { StorageKeys, Store, TokenStore } from "@oidc-proxy/core"
import { Effect, Layer, Option, Redacted } from "effect"
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
      const tokens = {
        access_token: `upstream-access-${crypto.randomUUID()}`,
        refresh_token: `upstream-refresh-${crypto.randomUUID()}`,
        id_token: `upstream-id-${crypto.randomUUID()}`,
      }
      const id = `set-${crypto.randomUUID()}`
      const control = `control-plaintext-${crypto.randomUUID()}`
      const write = Effect.gen(function* () {
        const { upstreamTokenSets } = yield* TokenStore.TokenStore
        yield* upstreamTokenSets.set(
          id,
          { id, ...tokens, token_type: "Bearer", scope: ["openid"], expires_at: 2e9, raw: { ...tokens } },
          "1 hour",
        )
        // Written raw: shows the byte scan below does see what is stored in clear.
        yield* (yield* Store.Store).set("control", control, "1 hour")
        assert.isTrue(Option.isSome(yield* upstreamTokenSets.get(id)))
        return fileBytes(filename)
      })
      const storage = Layer.mergeAll(
        SqliteStore.layer({ filename }),
        StorageKeys.layer([{ kid: "k1", secret: Redacted.make("a-storage-secret-of-at-least-32-bytes!") }]),
      )
      const whileOpen = yield* write.pipe(Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(storage))))
      const afterClose = fileBytes(filename)
      for (const bytes of [whileOpen, afterClose]) {
        assert.isTrue(bytes.includes(control), "the scan finds a value stored in clear")
        assert.isTrue(bytes.includes(`upstream:${id}`), "the scan finds the record's key")
        for (const [name, token] of Object.entries(tokens))
          assert.isFalse(bytes.includes(token), `${name} is in the file in clear`)
      }
    }),
  )
})

/**
 * Bytes per live session, in its own process
 * (`node --expose-gc memory.ts <memory|sqlite|redis|postgres> <n> [redis-or-postgres-url]`):
 * memory store — heap delta after GC (verified-token cache empty); SQLite — file size (WAL
 * checkpointed); Redis — `used_memory` delta; Postgres — `pg_total_relation_size` delta of the
 * store's table (rows, indexes, TOAST). Prints one JSON line.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TestUpstream } from "@oidc-proxy/core/testing"
import { PostgresClient, PostgresStore } from "@oidc-proxy/store-postgres"
import { RedisStore } from "@oidc-proxy/store-redis"
import { SqliteStore } from "@oidc-proxy/store-sqlite"
import { Effect, Layer } from "effect"
import { createSessions, makeStack, memoryStore, upstreamTokens } from "./stack.ts"

const [kind, countText, storeUrl] = process.argv.slice(2) as [string, string, string | undefined]
const count = Number(countText)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const heap = () => {
  for (let i = 0; i < 3; i++) gc()
  return process.memoryUsage().heapUsed
}
/** `used_memory` from `INFO memory`, over a plain socket (RESP inline command). */
const redisInfo = (url: string) =>
  new Promise<number>((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port), hostname, () => socket.write("INFO memory\r\n"))
    let text = ""
    socket.on("data", (c: Buffer) => {
      text += c.toString()
      const m = /used_memory:(\d+)/.exec(text)
      if (m !== null) {
        socket.end()
        resolve(Number(m[1]))
      }
    })
    socket.on("error", reject)
  })

/** A table of its own per run, so earlier rows in the same database do not count. */
const pgTable = `bench_mem_${Date.now()}`
/** The store table's size on disk (rows, indexes, TOAST), in bytes. */
const postgresSize = () =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const client = yield* PostgresClient.make({ url: storeUrl ?? "", table: pgTable })
        const rows = yield* Effect.promise(
          () => client.sql`SELECT pg_total_relation_size(${pgTable}::regclass) AS bytes`,
        )
        return Number(rows[0]?.["bytes"])
      }),
    ),
  )

const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-bench-"))
const file = join(dir, "store.db")
const store =
  kind === "memory"
    ? memoryStore
    : kind === "sqlite"
      ? SqliteStore.layer({ filename: file })
      : kind === "postgres"
        ? PostgresStore.layer({ url: storeUrl ?? "", table: pgTable, commandTimeout: "60 seconds" }).pipe(
            Layer.orDie,
          )
        : RedisStore.layer({ url: storeUrl ?? "", prefix: `mem${Date.now()}:` }).pipe(Layer.orDie)
const upstream = await Effect.runPromise(TestUpstream.make())
const tokens = await upstreamTokens(upstream)
const stack = makeStack(upstream, { store, cacheTtlSeconds: 0 })
await createSessions(stack, tokens, 10) // build the layer, warm the code paths
const before =
  kind === "memory"
    ? heap()
    : kind === "redis"
      ? await redisInfo(storeUrl ?? "")
      : kind === "postgres"
        ? await postgresSize()
        : 0
const issued = await createSessions(stack, tokens, count, "m")
const made = issued.length
// The proxy tokens are the clients' to hold: emptied, so a stack slot still pointing at the array
// cannot count them as the store's (it did before: ~700 B a session of tokens and cons strings).
issued.length = 0
let bytes: number
if (kind === "memory") bytes = heap() - before
else if (kind === "redis") bytes = (await redisInfo(storeUrl ?? "")) - before
else if (kind === "postgres") bytes = (await postgresSize()) - before
else {
  const { DatabaseSync } = await import("node:sqlite")
  const db = new DatabaseSync(file)
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
  db.close()
  bytes = statSync(file).size
}
process.stdout.write(`${JSON.stringify({ kind, count: made, bytesPerSession: bytes / count })}\n`)
await stack.dispose()
rmSync(dir, { recursive: true, force: true })
process.exit(0)

/**
 * The store-testkit fixture for PostgreSQL: a throwaway server, one `PostgresStore.layer` per
 * instance (a table per test), and a raw connection to read every row, notify on the
 * invalidation channel, count and terminate the listening backends.
 */
import type { SharedStore } from "@oidc-proxy/store-testkit"
import { Effect } from "effect"
import postgres from "postgres"
import { PostgresCacheInvalidation, PostgresStore } from "../src/index.ts"
import { describeWithPostgres, type PostgresServer } from "../src/testing/PostgresServer.ts"

/** A raw connection, to read rows, notify, count listeners and terminate backends. */
const raw = <A>(url: string, f: (sql: postgres.Sql) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(url, { onnotice: () => {}, max: 1 })),
    (sql) => Effect.tryPromise(() => f(sql)),
    (sql) => Effect.promise(() => sql.end()),
  )

/** The backends listening on `table`'s channel. */
const listening = (table: string) => `LISTEN ${PostgresCacheInvalidation.channel(table)}`

export const postgresStore: SharedStore.Fixture<PostgresServer> = {
  name: "Postgres",
  subscriber: "listener",
  describe: describeWithPostgres,
  layer: (url, table) => PostgresStore.layer(table === undefined ? { url } : { url, table }),
  namespace: (label) => label,
  // Every row of the default table, as text: whatever the schema holds, the scan sees it.
  dump: (url) =>
    raw(url, (sql) => sql`SELECT t::text AS row FROM oidc_proxy_store AS t`).pipe(
      Effect.map((rows) => rows.map((r) => String(r["row"])).join("\n")),
    ),
  publish: (url, table, messages) =>
    raw(url, async (sql) => {
      for (const message of messages)
        await sql`SELECT pg_notify(${PostgresCacheInvalidation.channel(table)}, ${message})`
    }),
  subscribers: (url, table) =>
    raw(
      url,
      (sql) => sql`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = ${listening(table)}`,
    ).pipe(Effect.map((rows) => rows[0]?.["n"] as number)),
  dropSubscribers: (url, table) =>
    Effect.asVoid(
      raw(
        url,
        (sql) =>
          sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = ${listening(table)}`,
      ),
    ),
  // The shared server: a fast shutdown cuts every connection; the data directory stays.
  restartable: (shared) =>
    Effect.succeed({
      url: shared().url,
      restart: Effect.promise(async () => {
        await shared().stop()
        await shared().start()
      }),
    }),
}

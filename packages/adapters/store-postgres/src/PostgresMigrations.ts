/**
 * The store's schema, as numbered migrations applied at start.
 *
 * Adapter internals. Every gateway runs `migrate` when its store layer is built: in one
 * transaction it takes a transaction-scoped advisory lock keyed by the table name (so gateways
 * starting at once apply each migration once, the others wait and then find nothing to do),
 * creates `<table>_migrations` if missing, and applies the migrations above the highest recorded
 * version, each recorded in the same transaction — all or nothing. A database already migrated
 * further by a newer gateway is left as it is (migrations only add), with a warning.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type postgres from "postgres"
import { kindOf, PostgresStoreError } from "./PostgresClient.ts"

/**
 * The migrations, in order; migration `i` is version `i + 1`. Append only: a released migration
 * is never edited.
 *
 * @category constants
 * @since 0.1.0
 */
export const migrations: ReadonlyArray<(table: string) => ReadonlyArray<string>> = [
  (t) => [
    // COLLATE "C": keys compare byte for byte (no locale folding: "é" and "e\u0301" stay distinct).
    `CREATE TABLE ${t} (
       key text COLLATE "C" PRIMARY KEY,
       value text NOT NULL,
       expires_at timestamptz NOT NULL
     )`,
    `CREATE INDEX ${t}_expires_at ON ${t} (expires_at)`,
  ],
]

/**
 * The schema version this code knows.
 *
 * @category constants
 * @since 0.1.0
 */
export const latestVersion = migrations.length

/**
 * Brings the schema of `table` to `latestVersion`; answers the version found before.
 *
 * @category constructors
 * @since 0.1.0
 */
export const migrate = (sql: postgres.Sql, table: string): Effect.Effect<number, PostgresStoreError> =>
  Effect.tryPromise({
    try: () =>
      sql.begin(async (tx) => {
        // Held until commit: a second gateway starting now waits here, then sees the new version.
        await tx`SELECT pg_advisory_xact_lock(hashtext(${`oidc-proxy:${table}`}))`
        await tx.unsafe(
          `CREATE TABLE IF NOT EXISTS ${table}_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
           )`,
        )
        const [row] = await tx.unsafe(`SELECT coalesce(max(version), 0) AS version FROM ${table}_migrations`)
        const found = Number(row?.["version"] ?? 0)
        for (let version = found + 1; version <= latestVersion; version++) {
          for (const statement of migrations[version - 1]!(table)) await tx.unsafe(statement)
          await tx.unsafe(`INSERT INTO ${table}_migrations (version) VALUES ($1)`, [version])
        }
        return found
      }),
    catch: (cause) =>
      new PostgresStoreError({ description: `cannot migrate the Postgres schema: ${kindOf(cause)}` }),
  }).pipe(
    Effect.tap((found) =>
      found > latestVersion
        ? Effect.logWarning(
            `PostgresStore: the schema is at version ${found}, newer than this version knows (${latestVersion}); left as it is`,
          )
        : Effect.void,
    ),
  )

import { assert, it } from "@effect/vitest"
import { StorageKeys, Store, TokenStore } from "@oidc-proxy/core"
import { Effect, Layer, Option, Redacted } from "effect"
import postgres from "postgres"
import { PostgresStore } from "../src/index.ts"
import { describeWithPostgres } from "../src/testing/PostgresServer.ts"

describeWithPostgres("PostgresStore with TokenStore", (server) => {
  it.live("upstreamTokenSets - no upstream token is in Postgres in clear, in any key or value", () =>
    Effect.gen(function* () {
      const tokens = {
        access_token: `upstream-access-${crypto.randomUUID()}`,
        refresh_token: `upstream-refresh-${crypto.randomUUID()}`,
        id_token: `upstream-id-${crypto.randomUUID()}`,
      }
      const id = `set-${crypto.randomUUID()}`
      const control = `control-plaintext-${crypto.randomUUID()}`
      const storage = Layer.mergeAll(
        PostgresStore.layer({ url: server().url }),
        StorageKeys.layer([{ kid: "k1", secret: Redacted.make("a-storage-secret-of-at-least-32-bytes!") }]),
      )
      yield* Effect.gen(function* () {
        const { upstreamTokenSets } = yield* TokenStore.TokenStore
        yield* upstreamTokenSets.set(
          id,
          { id, ...tokens, token_type: "Bearer", scope: ["openid"], expires_at: 2e9, raw: { ...tokens } },
          "1 hour",
        )
        // Written raw: shows the scan below does see what is stored in clear.
        yield* (yield* Store.Store).set("control", control, "1 hour")
        assert.isTrue(Option.isSome(yield* upstreamTokenSets.get(id)))
      }).pipe(Effect.provide(TokenStore.layer.pipe(Layer.provideMerge(storage))))

      // Every row of every table, as text: whatever the schema holds, the scan sees it.
      const dump = yield* Effect.acquireUseRelease(
        Effect.sync(() => postgres(server().url, { onnotice: () => {}, max: 1 })),
        (sql) => Effect.tryPromise(() => sql`SELECT t::text AS row FROM oidc_proxy_store AS t`),
        (sql) => Effect.promise(() => sql.end()),
      ).pipe(Effect.map((rows) => rows.map((r) => String(r["row"])).join("\n")))

      assert.include(dump, control, "the scan finds a value stored in clear")
      assert.include(dump, `upstream:${id}`, "the scan finds the record's key")
      for (const [name, token] of Object.entries(tokens))
        assert.notInclude(dump, token, `${name} is in Postgres in clear`)
    }),
  )
})

/**
 * PostgresTls: the TLS mode comes from the URL's `sslmode`, then `PGSSLMODE` (libpq's order), and
 * libpq TLS variables the store cannot apply stop the build by name — against a real PostgreSQL
 * server without TLS, where an ignored `PGSSLMODE=require` would have connected in clear.
 */
import { assert, describe, it } from "@effect/vitest"
import { Store } from "@oidc-proxy/core"
import { Cause, Effect, Exit, Option, Result } from "effect"
import { PostgresClient, PostgresStore, PostgresTls } from "../src/index.ts"
import { describeWithPostgres } from "../src/testing/PostgresServer.ts"

const url = "postgres://oidc:pw@db.internal/oidc"

describe("PostgresTls", () => {
  it("driverSsl - the URL's sslmode wins over PGSSLMODE; PGSSLMODE applies when the URL names none", () => {
    const ssl = (u: string, env: Record<string, string>) => Result.getOrThrow(PostgresTls.driverSsl(u, env))
    assert.strictEqual(ssl(url, {}), false)
    assert.strictEqual(ssl(url, { PGSSLMODE: "verify-full" }), "verify-full")
    assert.strictEqual(ssl(url, { PGSSLMODE: "require" }), "require")
    assert.strictEqual(ssl(url, { PGSSLMODE: "verify-ca" }), "verify-full")
    assert.strictEqual(ssl(url, { PGSSLMODE: "allow" }), "prefer")
    assert.strictEqual(ssl(`${url}?sslmode=disable`, { PGSSLMODE: "verify-full" }), false)
    assert.strictEqual(ssl(`${url}?sslmode=require`, { PGSSLMODE: "disable" }), "require")
    assert.strictEqual(ssl(url, { PGSSLROOTCERT: "system" }), "verify-full")
    assert.strictEqual(ssl(`${url}?sslrootcert=system&sslmode=require`, {}), "verify-full")
  })

  it("driverSsl - a bad PGSSLMODE, a URL sslmode that is no mode, and TLS variables not applied are refused by name", () => {
    const refused = (u: string, env: Record<string, string>) => {
      const result = PostgresTls.driverSsl(u, env)
      assert.isTrue(Result.isFailure(result), "refused")
      return Result.isFailure(result) ? result.failure.join("\n") : ""
    }
    assert.include(refused(url, { PGSSLMODE: "verify_full" }), "PGSSLMODE: must be one of disable, allow")
    assert.include(refused(`${url}?sslmode=on`, {}), "the URL parameter sslmode must be one of")
    for (const name of ["PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSSLCRL", "PGREQUIRESSL", "PGSSL"])
      assert.include(
        refused(url, { [name]: "/secret/path.pem" }),
        `${name}: set, but the Postgres store does not apply it`,
      )
    assert.notInclude(refused(url, { PGSSLKEY: "/secret/path.pem" }), "/secret/path.pem")
  })

  it("driverSsl - a URL naming sslmode or sslrootcert twice is refused: libpq keeps the last, the first was read", () => {
    for (const query of [
      "sslmode=disable&sslmode=verify-full",
      "sslmode=require&sslmode=require",
      "sslrootcert=system&sslrootcert=system",
      "sslmode=disable&ssl%6Dode=verify-full",
    ]) {
      const result = PostgresTls.driverSsl(`${url}?${query}`, {})
      assert.isTrue(Result.isFailure(result), query)
      if (Result.isFailure(result)) assert.include(result.failure.join("\n"), "is given more than once")
    }
  })
})

const buildFailure = (exit: Exit.Exit<unknown, unknown>): string => {
  assert.isTrue(Exit.isFailure(exit), "the layer build failed")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
  assert.isTrue(Option.isSome(error), "a typed error, not a defect")
  const found = Option.getOrThrow(error)
  assert.instanceOf(found, PostgresClient.PostgresStoreError)
  return (found as PostgresClient.PostgresStoreError).description
}

describeWithPostgres("PostgresTls", (server) => {
  const roundTrip = (environment: Record<string, string>, target = server().url) =>
    Store.Store.use((s) => Effect.andThen(s.set("tls", "v", "1 minute"), s.get("tls"))).pipe(
      Effect.provide(PostgresStore.layer({ url: target, environment })),
      Effect.exit,
    )

  it.live("PGSSLMODE=require against a server without TLS: the build fails, nothing is sent in clear", () =>
    Effect.gen(function* () {
      assert.isTrue(Exit.isSuccess(yield* roundTrip({})), "no mode named: a clear connection, as before")
      const description = buildFailure(yield* roundTrip({ PGSSLMODE: "require" }))
      assert.include(description, "cannot connect to Postgres")
      assert.notInclude(description, server().password)
      // The URL's sslmode wins over PGSSLMODE, as in libpq.
      assert.isTrue(
        Exit.isSuccess(yield* roundTrip({ PGSSLMODE: "require" }, `${server().url}?sslmode=disable`)),
      )
    }),
  )

  it.live(
    "sslmode=disable then sslmode=require in the URL (libpq: require): the build fails, no clear connection",
    () =>
      Effect.gen(function* () {
        const description = buildFailure(
          yield* roundTrip({}, `${server().url}?sslmode=disable&sslmode=require`),
        )
        assert.include(description, "the URL parameter sslmode is given more than once")
      }),
  )

  it.live("PGSSLROOTCERT with a file, or a misspelt PGSSLMODE: the build fails naming the variable", () =>
    Effect.gen(function* () {
      assert.include(
        buildFailure(yield* roundTrip({ PGSSLROOTCERT: "/etc/ssl/db-ca.pem" })),
        "Postgres TLS settings: PGSSLROOTCERT: set, but the Postgres store does not apply it",
      )
      assert.include(
        buildFailure(yield* roundTrip({ PGSSLMODE: "verify_full" })),
        "PGSSLMODE: must be one of",
      )
    }),
  )
})

/**
 * Profiling harness: runs `LoadAccessToken.check` on one session in a loop (memory store, id_token
 * mode, RS256 upstream), for `node --cpu-prof`.
 *
 * Usage: node --cpu-prof --cpu-prof-dir=bench/profiles bench/src/profile-check.ts [iterations] [mode]
 */
import { IssueAccessToken, LoadAccessToken, TokenStore } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Effect } from "effect"

const iterations = Number(process.argv[2] ?? 20_000)
const mode = (process.argv[3] ?? "id_token") as "id_token" | "access_token"

const program = Effect.gen(function* () {
  const upstream = yield* TestUpstream.make()
  const now = Math.floor(Date.now() / 1000)
  const config = TestProxy.config(upstream, { verification_mode: mode })
  return yield* Effect.gen(function* () {
    const idToken = yield* upstream.sign({ sub: "u1", aud: upstream.clientId, exp: now + 3600 })
    const accessToken = yield* upstream.sign({ sub: "u1", scope: "openid tools", exp: now + 3600 })
    const store = yield* TokenStore.TokenStore
    yield* store.upstreamTokenSets.set(
      "ts",
      {
        id: "ts",
        access_token: accessToken,
        id_token: idToken,
        token_type: "Bearer",
        scope: ["openid"],
        expires_at: now + 3600,
        raw: {},
      },
      "2 hours",
    )
    const issued = yield* IssueAccessToken.issueAccessToken({
      upstream_token_set_id: "ts",
      client_id: "c1",
      subject: "u1",
      scopes: ["openid"],
      lifetime: 3600,
    })
    const started = process.cpuUsage()
    for (let i = 0; i < iterations; i++) {
      const d = yield* LoadAccessToken.check(issued.access_token)
      if (d._tag !== "Allow") return yield* Effect.die(new Error(`denied: ${JSON.stringify(d)}`))
    }
    const cpu = process.cpuUsage(started)
    console.log(`${iterations} checks, ${((cpu.user + cpu.system) / iterations).toFixed(2)} µs CPU each`)
  }).pipe(Effect.provide(TestProxy.layer(upstream, config)))
})

await Effect.runPromise(program)

/**
 * Profiling harness: runs `LoadAccessToken.check` in a loop over the stack as deployed on Node
 * (`bench/src/stack.ts`: memory store, id_token mode, RS256 upstream), for `node --cpu-prof`.
 * `cold` empties the verified-token cache before every check and turns the upstream verification
 * cache off (every check verifies the proxy token, reads and decrypts, verifies the upstream JWT).
 * Each check is its own `runPromise`, 16 in flight, as the bench's cold row runs them.
 *
 * Usage: node --cpu-prof --cpu-prof-dir=bench/profiles bench/src/profile-check.ts [iterations] [cold]
 */
import { LoadAccessToken, TokenStore } from "@oidc-proxy/core"
import { TestUpstream } from "@oidc-proxy/core/testing"
import { Effect } from "effect"
import { createSessions, makeStack, memoryStore, upstreamTokens } from "./stack.ts"

const iterations = Number(process.argv[2] ?? 20_000)
const cold = process.argv[3] === "cold" || process.argv[3] === "cold-known"
// `cold-known`: cache emptied before every check, upstream verification cache on (the JWT is known).
const known = process.argv[3] === "cold-known"

const upstream = await Effect.runPromise(TestUpstream.make())
const stack = makeStack(upstream, { store: memoryStore, upstreamCache: !cold || known })
const sessions = await createSessions(stack, await upstreamTokens(upstream), 1000)
const store = await stack.runPromise(Effect.service(TokenStore.TokenStore))
// As the bench measures it: one `runPromise` per check, 16 in flight.
const run = async (n: number) => {
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < n) {
        const i = next++
        if (cold) store.verified?.clear()
        const d = await stack.runPromise(LoadAccessToken.check(sessions[i % sessions.length]))
        if (d._tag !== "Allow") throw new Error(`denied: ${JSON.stringify(d)}`)
      }
    }),
  )
}
await run(Math.min(2000, iterations))
const started = process.cpuUsage()
await run(iterations)
const cpu = process.cpuUsage(started)
console.log(`${iterations} checks, ${((cpu.user + cpu.system) / iterations).toFixed(2)} µs CPU each`)
await stack.dispose()

/**
 * Quick A/B of the cold bearer check alone (memory store, as `npm run bench`'s "cold check
 * (memory)" row and its parts): `node bench/src/cold.ts [runs]`. Same stack, same measurement,
 * fewer rows, ~15 s.
 */
import { LoadAccessToken, ProxyKeys, TokenStore, UpstreamVerifier } from "@oidc-proxy/core"
import { TestUpstream } from "@oidc-proxy/core/testing"
import { Effect } from "effect"
import { measureAsync, repeat } from "./measure.ts"
import { createSessions, makeStack, memoryStore, upstreamTokens } from "./stack.ts"

const runs = Number(process.argv[2] ?? 5)
const inFlight = 16
const upstream = await Effect.runPromise(TestUpstream.make())
const tokens = await upstreamTokens(upstream)
const stack = makeStack(upstream, {
  store: memoryStore,
  upstreamCache: false,
  ...(process.env["COLD_TTL"] === undefined ? {} : { cacheTtlSeconds: Number(process.env["COLD_TTL"]) }),
})
const count = 4_000
const sessions = await createSessions(stack, tokens, count * (runs + 1) + 1, "m-")
const services = await stack.runPromise(
  Effect.gen(function* () {
    return {
      keys: yield* ProxyKeys.ProxyKeys,
      verifier: yield* UpstreamVerifier.UpstreamVerifier,
      store: yield* TokenStore.TokenStore,
    }
  }),
)
const checkOnce = (token: string) =>
  stack.runPromise(LoadAccessToken.check(token)).then((d) => {
    if (d._tag !== "Allow") throw new Error(`denied: ${JSON.stringify(d)}`)
  })
let next = 0
const cold = await repeat(runs, () => {
  services.store.verified?.clear()
  return measureAsync(count, inFlight, () => checkOnce(sessions[next++]!))
})
const warmToken = sessions[sessions.length - 1]!
const claims = await stack.runPromise(services.keys.verify(warmToken))
const part = async (op: () => Promise<unknown>) =>
  (await repeat(runs, () => measureAsync(10_000, inFlight, op))).cpuUs
const parts = {
  proxy: await part(() => stack.runPromise(services.keys.verify(warmToken))),
  jti: await part(() => stack.runPromise(services.store.jtiMappings.get(claims.jti))),
  upstream: await part(() => stack.runPromise(services.store.upstreamTokenSets.get("m-0"))),
  verify: await part(() =>
    stack.runPromise(
      services.verifier.verify(tokens.idToken, { issuer: upstream.issuer, audience: upstream.clientId }),
    ),
  ),
}
const sum = parts.proxy + parts.jti + parts.upstream + parts.verify
console.log(
  `cold ${cold.cpuUs.toFixed(2)} µs (${Math.round(cold.opsPerSec)}/s); parts ${Object.entries(parts)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(", ")}; sum ${sum.toFixed(1)}; cold/sum ${(cold.cpuUs / sum).toFixed(2)}`,
)
await stack.dispose()

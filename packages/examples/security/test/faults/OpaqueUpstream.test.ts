/**
 * An upstream without discovery whose access tokens are opaque: the `oidc-proxy` binary as a child
 * process, configured with its endpoints by hand and `OIDC_PROXY_UPSTREAM_VERIFICATION=introspection`,
 * against the fake IdP in opaque mode. Sign-in and bearer checks work without a discovery request;
 * repeated checks are answered from the cache; an introspection outage answers 503 with
 * `Retry-After` (never 200, never 401); a token the IdP reports inactive is refused with 401
 * `invalid_token` once the cache TTL has passed.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { bearer, gatewayEnv, signIn, startTarget, type Target } from "./flows.ts"
import { freePort, type GatewayProcess, sleep, spawnGateway } from "./processes.ts"

const ttlSeconds = 2

let idp: FakeIdp
let target: Target
let gateway: GatewayProcess

beforeAll(async () => {
  idp = await startFakeIdp()
  idp.opaque = true
  target = await startTarget()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  gateway = await spawnGateway(
    url,
    gatewayEnv(url, target.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: `${idp.issuer}/authorize`,
      OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: `${idp.issuer}/token`,
      OIDC_PROXY_UPSTREAM_REVOCATION_ENDPOINT: `${idp.issuer}/revoke`,
      OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: `${idp.issuer}/introspect`,
      OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
      OIDC_PROXY_CACHE_TTL: String(ttlSeconds),
    }),
  )
}, 30_000)

afterAll(async () => {
  await gateway?.stop("SIGKILL")
  await target?.close()
  await idp?.close()
})

describe("upstream with endpoints by hand and opaque access tokens (introspection)", () => {
  it("signs in and checks bearers without discovery; an outage is 503 + Retry-After; an inactive token is 401 after the TTL", async () => {
    const tokens = await signIn(gateway.url, idp)
    expect(idp.counts.discovery, "no discovery request").toBe(0)
    const afterSignIn = idp.counts.introspect
    const checks = []
    for (let i = 0; i < 5; i++) checks.push(await bearer(gateway.url, tokens.access_token))
    for (const check of checks) expect(check.status, check.text).toBe(200)
    // Five checks inside the TTL: answered from the cache (one call at most, if the callback's
    // answer aged out under load).
    expect(idp.counts.introspect - afterSignIn).toBeLessThanOrEqual(1)

    idp.introspectionMode = "503"
    await sleep(ttlSeconds * 1000 + 300)
    const outage = await bearer(gateway.url, tokens.access_token)
    expect(outage.status, outage.text).toBe(503)
    expect(outage.error).toBe("temporarily_unavailable")
    expect(outage.retryAfter).not.toBeNull()

    idp.introspectionMode = "ok"
    expect((await bearer(gateway.url, tokens.access_token)).status).toBe(200)
    idp.active = false
    await sleep(ttlSeconds * 1000 + 300)
    const refused = await bearer(gateway.url, tokens.access_token)
    expect(refused.status, refused.text).toBe(401)
    expect(refused.error).toBe("invalid_token")
    expect(gateway.output(), "the upstream token is never logged").not.toContain("opaque-")
  }, 60_000)
})

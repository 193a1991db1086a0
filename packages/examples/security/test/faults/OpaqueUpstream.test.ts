/**
 * An upstream without discovery whose access tokens are opaque: the `oidc-proxy` binary as a child
 * process, configured with its endpoints by hand and `OIDC_PROXY_UPSTREAM_VERIFICATION=introspection`,
 * against the fake IdP in opaque mode. Sign-in and bearer checks work without a discovery request;
 * repeated checks are answered from the cache; an introspection outage answers 503 with
 * `Retry-After` (never 200, never 401); a token the IdP reports inactive is refused with 401
 * `invalid_token` once the cache TTL has passed.
 */
import { describe, expect, it } from "vitest"
import { bearer, binaryScenario, endpointsByHand, signIn } from "./flows.ts"
import { sleep } from "./processes.ts"

const ttlSeconds = 2

const s = binaryScenario((idp) => {
  idp.opaque = true
  return {
    ...endpointsByHand(idp, "revoke", "introspect"),
    OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
    OIDC_PROXY_CACHE_TTL: String(ttlSeconds),
  }
})

describe("upstream with endpoints by hand and opaque access tokens (introspection)", () => {
  it("signs in and checks bearers without discovery; an outage is 503 + Retry-After; an inactive token is 401 after the TTL", async () => {
    const tokens = await signIn(s.gateway.url, s.idp)
    expect(s.idp.counts.discovery, "no discovery request").toBe(0)
    const afterSignIn = s.idp.counts.introspect
    const checks = []
    for (let i = 0; i < 5; i++) checks.push(await bearer(s.gateway.url, tokens.access_token))
    for (const check of checks) expect(check.status, check.text).toBe(200)
    // Five checks inside the TTL: answered from the cache (one call at most, if the callback's
    // answer aged out under load).
    expect(s.idp.counts.introspect - afterSignIn).toBeLessThanOrEqual(1)

    s.idp.introspectionMode = "503"
    await sleep(ttlSeconds * 1000 + 300)
    const outage = await bearer(s.gateway.url, tokens.access_token)
    expect(outage.status, outage.text).toBe(503)
    expect(outage.error).toBe("temporarily_unavailable")
    expect(outage.retryAfter).not.toBeNull()

    s.idp.introspectionMode = "ok"
    expect((await bearer(s.gateway.url, tokens.access_token)).status).toBe(200)
    s.idp.active = false
    await sleep(ttlSeconds * 1000 + 300)
    const refused = await bearer(s.gateway.url, tokens.access_token)
    expect(refused.status, refused.text).toBe(401)
    expect(refused.error).toBe("invalid_token")
    expect(s.gateway.output(), "the upstream token is never logged").not.toContain("opaque-")
  }, 60_000)
})

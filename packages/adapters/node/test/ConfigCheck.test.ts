/**
 * `oidc-proxy check` with the endpoints given by hand: it resolves the upstream as a start would —
 * no discovery request, no JWKS for a network strategy — and names a strategy's missing endpoint.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigCheck from "../src/ConfigCheck.ts"
import { env } from "./fixtures.ts"

/** An IdP on 127.0.0.1 that only counts what it is asked. */
const countingIdp = async () => {
  const paths: Array<string> = []
  const server = createServer((req, res) => {
    paths.push(req.url ?? "")
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { origin, paths, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

describe("ConfigCheck", () => {
  it("run - endpoints by hand with introspection: passes without a discovery or JWKS request", async () => {
    const idp = await countingIdp()
    try {
      const report = await ConfigCheck.run(
        env({
          OIDC_PROXY_UPSTREAM_ISSUER: idp.origin,
          OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: `${idp.origin}/authorize`,
          OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: `${idp.origin}/token`,
          OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: `${idp.origin}/introspect`,
          OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection",
        }),
      )
      assert.deepStrictEqual(report.configuration, [])
      assert.deepStrictEqual(report.reachability, [])
      assert.deepStrictEqual(idp.paths, [])
    } finally {
      await idp.close()
    }
  })

  it("run - endpoints by hand without the strategy's endpoint: named, nothing requested", async () => {
    const idp = await countingIdp()
    try {
      const report = await ConfigCheck.run(
        env({
          OIDC_PROXY_UPSTREAM_ISSUER: idp.origin,
          OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: `${idp.origin}/authorize`,
          OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: `${idp.origin}/token`,
          OIDC_PROXY_UPSTREAM_VERIFICATION: "userinfo",
        }),
      )
      assert.match(report.configuration.join("\n"), /^OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT: required/m)
      assert.match(report.reachability.join("\n"), /userinfo_endpoint/)
      assert.deepStrictEqual(idp.paths, [])
    } finally {
      await idp.close()
    }
  })
})

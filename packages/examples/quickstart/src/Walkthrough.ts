/**
 * The scope-resolution walkthrough: an upstream that returns the same JWT as access_token and
 * id_token (SAP Cloud Identity Services), run through the real bearer pipeline in both
 * verification modes, next to the rule FastMCP's OIDCProxy used (issue #3461).
 *
 * Example program: core + its test upstream, no network.
 */
import { IssueAccessToken, LoadAccessToken, Scopes, TokenStore } from "@oidc-proxy/core"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Clock, Effect } from "effect"

/** The rule FastMCP's OIDCProxy applied: recorded scopes only when the tokens differ by value. */
const fastmcpRule = (
  upstream: { access_token: string; id_token?: string; scope: ReadonlyArray<string> },
  claims: object,
) =>
  upstream.id_token !== undefined && upstream.id_token !== upstream.access_token
    ? Scopes.normalize(upstream.scope)
    : Scopes.fromClaims(claims)

const show = (scopes: ReadonlyArray<string>) => (scopes.length === 0 ? "(none)" : scopes.join(" "))

/** Runs the walkthrough, printing each step through `print`; returns the decisions it saw. */
export const run = (print: (line: string) => void) =>
  Effect.gen(function* () {
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const upstream = yield* TestUpstream.make({ issuer: "https://sap-cis.example", clientId: "oidc-proxy" })
    print("1. The upstream IdP answers the code exchange with ONE JWT as both access_token and id_token,")
    print("   and no scope/scp claim in it (what SAP Cloud Identity Services does).")
    const jwt = yield* upstream.sign(
      { sub: "ada@example.com", aud: upstream.clientId, exp: now + 3600 },
      { now },
    )
    const tokenSet = {
      id: "session-1",
      access_token: jwt,
      id_token: jwt,
      token_type: "Bearer",
      scope: Scopes.parse("openid offline_access"),
      expires_at: now + 3600,
      raw: { token_type: "Bearer", expires_in: 3600 },
    }
    print(`   access_token === id_token: ${tokenSet.access_token === tokenSet.id_token}`)
    print(`   scopes recorded at authorization time: ${show(tokenSet.scope)}`)
    print("")
    print("2. FastMCP's rule (restore recorded scopes only if id_token !== access_token by value):")
    print(
      `   scopes = ${show(fastmcpRule(tokenSet, { sub: "ada@example.com" }))}  → every request gets 403 insufficient_scope`,
    )
    print("")
    print("3. oidc-proxy's rule: the verification mode alone picks the source of the scopes.")
    print("   id_token mode   → the recorded scope set, whatever the token values are")
    print("   access_token mode → the verified access-token claims (scope / scp)")
    const decisions: Array<string> = []
    for (const mode of ["id_token", "access_token"] as const) {
      const config = TestProxy.config(upstream, {
        verification_mode: mode,
        required_scopes: ["openid", "offline_access"],
        upstream: { audience: upstream.clientId },
      })
      const decision = yield* Effect.gen(function* () {
        const store = yield* TokenStore.TokenStore
        yield* store.upstreamTokenSets.set(tokenSet.id, tokenSet, "1 hour")
        const issued = yield* IssueAccessToken.issueAccessToken({
          upstream_token_set_id: tokenSet.id,
          client_id: "mcp-inspector",
          subject: "ada@example.com",
          scopes: tokenSet.scope,
          lifetime: 3600,
        })
        return yield* LoadAccessToken.check(issued.access_token)
      }).pipe(Effect.provide(TestProxy.layer(upstream, config)))
      const outcome =
        decision._tag === "Allow"
          ? `ALLOW  subject=${decision.accessToken.subject} scopes=${show(decision.accessToken.scopes)}`
          : `DENY   ${decision.status} ${decision.error ?? ""} — ${decision.description ?? ""}`
      decisions.push(`${mode}: ${decision._tag}`)
      print(`   [${mode.padEnd(12)}] required "openid offline_access" → ${outcome}`)
    }
    print("")
    print("   In access_token mode the JWT carries no scope claim, so the request is refused: that is")
    print("   the right answer for that mode. Configure OIDC_PROXY_VERIFY_ID_TOKEN=true for such IdPs.")
    return decisions
  })

/**
 * Attacks on the bearer check in front of the protected resource, over the real fetch handler:
 * forged and confused tokens. Forgeries are made from a real token's claims (so its jti mapping
 * exists) and, where the attack needs it, signed with the proxy's real key — so the one forged
 * property is the only reason for the refusal. Each test asserts 401 `invalid_token` and that the
 * store did not change.
 */
import { ProxyKeys } from "@oidc-proxy/core"
import { TestProxy } from "@oidc-proxy/core/testing"
import { Effect } from "effect"
import {
  base64url,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  exportSPKI,
  type JWTPayload,
  SignJWT,
} from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  assertLogsClean,
  bearerRequest,
  expectOAuthError,
  makeProxy,
  type ProxyUnderTest,
  session,
  type Tokens,
  upstreamKey,
  withoutStateChange,
} from "./support.ts"

let p: ProxyUnderTest
let tokens: Tokens
let claims: JWTPayload
let proxyKey: Uint8Array
beforeAll(async () => {
  p = await makeProxy()
  tokens = (await session(p)).tokens
  claims = decodeJwt(tokens.access_token)
  proxyKey = await Effect.runPromise(ProxyKeys.deriveKey(TestProxy.testSecret, "proxy-token-signing"))
})
afterAll(async () => {
  assertLogsClean(p)
  await p.dispose()
})

const now = () => Math.floor(Date.now() / 1000)
const header = { alg: "HS256", typ: "at+jwt" }

/** The real token's claims, changed, signed with `key` (default: the proxy's real key). */
const forge = (
  change: (c: JWTPayload) => JWTPayload,
  options: { header?: Record<string, unknown>; key?: Uint8Array | CryptoKey } = {},
) =>
  new SignJWT(change({ ...claims }))
    .setProtectedHeader({ ...header, ...options.header } as { alg: string })
    .sign(options.key ?? proxyKey)

const unsigned = (h: Record<string, unknown>, payload: JWTPayload, signature = "") =>
  `${base64url.encode(JSON.stringify(h))}.${base64url.encode(JSON.stringify(payload))}.${signature}`

/** Asserts `token` is refused as a bearer with 401 invalid_token and changes nothing. */
const refused = async (token: string, target = p) => {
  const res = await withoutStateChange(target, () => target.send(bearerRequest(token)))
  expectOAuthError(res, 401, "invalid_token")
  expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"')
  return res
}

describe("attacks on the bearer check", () => {
  it("control - the real token, and the same claims re-signed with the real key, are accepted", async () => {
    expect((await p.send(bearerRequest(tokens.access_token))).status).toBe(200)
    expect((await p.send(bearerRequest(await forge((c) => c)))).status).toBe(200)
  })

  it("a second spelling of the signature (non-canonical base64url padding bits) - 401 invalid_token", async () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    const t = tokens.access_token
    const last = alphabet.indexOf(t.slice(-1))
    // A 43-character HS256 signature: the last character's two low bits are padding.
    for (const bits of [1, 2, 3]) await refused(`${t.slice(0, -1)}${alphabet[last | bits]}`)
    expect((await p.send(bearerRequest(t))).status).toBe(200)
  })

  it("a refresh token used as a bearer - 401 invalid_token", async () => {
    await refused(tokens.refresh_token!)
  })

  it("`alg: none` - 401 invalid_token", async () => {
    for (const alg of ["none", "None", "NONE", "nOnE"]) {
      await refused(unsigned({ alg, typ: "at+jwt" }, claims))
      await refused(unsigned({ alg, typ: "at+jwt" }, claims, "AAAA"))
    }
    await refused(unsigned({ typ: "at+jwt" }, claims))
  })

  it("HS/RS key confusion - HS256 keyed with the IdP's public key, and IdP-signed tokens, are refused", async () => {
    const upstream = await upstreamKey()
    const pem = await exportSPKI(upstream.publicKey)
    const jwk = await exportJWK(upstream.publicKey)
    for (const material of [pem, JSON.stringify(jwk), JSON.stringify(upstream.jwks), jwk.n!]) {
      await refused(await forge((c) => c, { key: new TextEncoder().encode(material) }))
    }
    // A token signed by the IdP's (trusted, for upstream tokens) key is not a proxy token.
    const rs = await forge((c) => c, {
      header: { alg: "RS256", kid: upstream.kid },
      key: upstream.privateKey,
    })
    await refused(rs)
    await refused(await Effect.runPromise(upstream.sign({ ...claims, typ: "at+jwt" } as JWTPayload)))
  })

  it("HS/RS key confusion - an asymmetric proxy refuses HS256 keyed with its own public JWK", async () => {
    const a = await makeProxy({ asymmetric: true })
    try {
      const t = (await session(a)).tokens
      expect(decodeProtectedHeader(t.access_token).alg).toBe("ES256")
      expect((await a.send(bearerRequest(t.access_token))).status).toBe(200)
      const jwksRes = await a.send(new Request("https://proxy.test/jwks"))
      const published = (jwksRes.json as { keys: Array<Record<string, string>> }).keys[0]!
      expect(published["d"]).toBeUndefined()
      const c = decodeJwt(t.access_token)
      for (const material of [
        JSON.stringify(published),
        published["x"]!,
        `${published["x"]}${published["y"]}`,
      ]) {
        const token = await new SignJWT(c)
          .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: published["kid"]! })
          .sign(new TextEncoder().encode(material))
        await refused(token, a)
      }
    } finally {
      await a.dispose()
    }
  })

  it("`kid` injection - path traversal, SQL and huge kids with attacker keys are refused", async () => {
    const attackerKeys = [new Uint8Array(32), new TextEncoder().encode("root:x:0:0:root:/root:/bin/bash\n")]
    const kids = [
      "../../etc/passwd",
      "/dev/null",
      "' OR '1'='1' --",
      "x'; DROP TABLE keys; --",
      "k".repeat(4000),
      "\u0000",
    ]
    for (const kid of kids) {
      for (const key of attackerKeys) await refused(await forge((c) => c, { header: { kid }, key }))
    }
    const huge = await forge((c) => c, { header: { kid: "k".repeat(20_000) }, key: attackerKeys[0]! })
    const res = await refused(huge)
    expect(res.json?.["error_description"]).toBe("The access token is too large")
    // An asymmetric proxy looks keys up by kid: hostile kids name no key.
    const a = await makeProxy({ asymmetric: true })
    try {
      const c = decodeJwt((await session(a)).tokens.access_token)
      const attacker = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
        "sign",
      ])
      for (const kid of [...kids, "proxy-es256-1"]) {
        const token = await new SignJWT(c)
          .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid })
          .sign((attacker as CryptoKeyPair).privateKey)
        await refused(token, a)
      }
    } finally {
      await a.dispose()
    }
  })

  it("forged `iss` or `aud` with the real key - 401 invalid_token", async () => {
    await refused(await forge((c) => ({ ...c, iss: "https://evil.example" })))
    await refused(await forge((c) => ({ ...c, iss: "https://proxy.test/" })))
    await refused(await forge(({ iss: _, ...c }) => c))
    await refused(await forge((c) => ({ ...c, aud: "https://proxy.test" })))
    await refused(await forge(({ aud: _, ...c }) => c))
  })

  it("expired and future tokens - 401 invalid_token", async () => {
    await refused(await forge((c) => ({ ...c, iat: now() - 7200, exp: now() - 3600 })))
    await refused(await forge((c) => ({ ...c, nbf: now() + 3600 })))
    await refused(await forge((c) => ({ ...c, iat: now() + 3600, nbf: now() + 3600, exp: now() + 7200 })))
    await refused(await forge(({ exp: _, ...c }) => c))
    // The real token, once the clock passes its expiry and the leeway.
    const late = await makeProxy()
    try {
      const t = (await session(late)).tokens
      late.advance(3600 + 31)
      await refused(t.access_token, late)
    } finally {
      await late.dispose()
    }
  })

  it("a token for another resource (RFC 8707) - 401 invalid_token", async () => {
    await refused(await forge((c) => ({ ...c, aud: "https://other.example/mcp" })))
    await refused(await forge((c) => ({ ...c, aud: ["https://other.example/mcp"] })))
    await refused(await forge((c) => ({ ...c, aud: "https://proxy.test/mcp/other" })))
  })
})

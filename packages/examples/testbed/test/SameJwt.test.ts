/**
 * LocalIdp's `sameJwt` mode (SAP Cloud Identity Services imitation): one JWT as access_token and id_token.
 *
 * @since 0.1.0
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { type LocalIdp, startLocalIdp } from "../src/LocalIdp.ts"
import { codeFlow, post } from "./support.ts"

describe("LocalIdp sameJwt", () => {
  let idp: LocalIdp

  beforeAll(async () => {
    idp = await startLocalIdp({ sameJwt: true, client: { client_id: "sap-client" } })
  })
  afterAll(async () => {
    await idp?.close()
  })

  it("token - returns the same JWT as access_token and id_token, without scope claims", async () => {
    const tokens = await codeFlow(idp, { scope: "openid email profile mcp:read" })
    assert.strictEqual(tokens.access_token, tokens.id_token)
    const claims = decodeJwt(tokens.access_token)
    assert.notProperty(claims, "scope")
    assert.notProperty(claims, "scp")
  })

  it("token - the shared JWT is a valid id_token: signed by the JWKS, aud = client_id, identity claims", async () => {
    const tokens = await codeFlow(idp, { scope: "openid email" })
    const { payload, protectedHeader } = await jwtVerify(
      tokens.id_token!,
      createRemoteJWKSet(new URL(`${idp.issuer}/jwks`)),
      { issuer: idp.issuer, audience: "sap-client" },
    )
    assert.strictEqual(protectedHeader.alg, "RS256")
    assert.strictEqual(payload.sub, "ada")
    assert.strictEqual(payload["email"], "ada@example.test")
    assert.isAbove(payload.exp! - payload.iat!, 0)
  })

  it("refresh - the refresh grant also answers with one JWT in both fields", async () => {
    const tokens = await codeFlow(idp, { scope: "openid email" })
    const refreshed = await post(`${idp.issuer}/token`, idp.clients[0]!, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token!,
    })
    assert.strictEqual(refreshed.status, 200)
    assert.strictEqual(refreshed.body["access_token"], refreshed.body["id_token"])
    // Not compared with the first token: RS256 is deterministic and id_tokens carry no jti, so a refresh
    // within the same second can reproduce the very same JWT.
    assert.strictEqual(decodeJwt(refreshed.body["id_token"] as string).aud, "sap-client")
  })
})

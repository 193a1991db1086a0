/**
 * Fault: requests any caller can send without a sign-in of its own — consent POSTs and upstream
 * callbacks naming random transactions, `/token` with bogus codes and refresh tokens, `/revoke`
 * with random tokens — are refused (or, for `/revoke`, answered 200 as RFC 7009 says) and write
 * nothing (issue 20, finding 4). The `oidc-proxy` binary runs on `sqlite:<tmp>/gw.db`, so the
 * test reads the store's table itself: every row, value and expiry is the same after the flood.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { clientRedirect, gatewayEnv, postToken, register, startTarget, type Target } from "./flows.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

const rounds = 10

let idp: FakeIdp
let target: Target
let gateway: GatewayProcess | undefined
const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-refused-writes-"))

beforeAll(async () => {
  idp = await startFakeIdp()
  target = await startTarget()
})

afterAll(async () => {
  await gateway?.stop("SIGKILL")
  await target?.close()
  await idp?.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Every row of the store, in key order. */
const rows = (file: string): ReadonlyArray<unknown> => {
  const db = new DatabaseSync(file, { readOnly: true })
  try {
    // Quota slots count requests (refused ones too, when a /token quota is set); they are not records.
    return db
      .prepare(
        "SELECT key, value, expires_at FROM oidc_proxy_store WHERE key NOT LIKE 'quota:%' ORDER BY key",
      )
      .all()
  } finally {
    db.close()
  }
}

const random = () => crypto.randomUUID().replace(/-/g, "")

describe("fault: refused requests write nothing to the store", () => {
  it("consent, callback, /token with bogus codes and tokens, /revoke with random tokens", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const file = join(dir, "gw.db")
    gateway = await spawnGateway(url, gatewayEnv(url, target.url, idp, `sqlite:${file}`))
    const client = await register(url)
    const confidential = await register(url, "client_secret_basic")
    const basic = `Basic ${btoa(`${confidential.client_id}:${confidential.client_secret}`)}`
    const before = rows(file)
    expect(before.length, "the registrations are stored").toBeGreaterThan(0)

    const form = (path: string, body: Record<string, string>, authorization?: string) =>
      fetch(`${url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(authorization === undefined ? {} : { authorization }),
        },
        body: new URLSearchParams(body).toString(),
      })
    const statuses: Array<[string, number]> = []
    const record = async (what: string, res: Response | Promise<Response>) => {
      const answer = await res
      await answer.arrayBuffer()
      statuses.push([what, answer.status])
    }
    for (let i = 0; i < rounds; i++) {
      await record(
        "consent",
        form("/consent", { transaction: random(), csrf: random(), decision: "approve" }),
      )
      await record("callback", fetch(`${url}/auth/callback?state=${random()}&code=${random()}`))
      await record(
        "token code",
        postToken(url, {
          grant_type: "authorization_code",
          client_id: client.client_id,
          code: random(),
          redirect_uri: clientRedirect,
          code_verifier: random() + random(),
        }).then(({ status }) => new Response(null, { status })),
      )
      await record(
        "token refresh",
        form("/token", { grant_type: "refresh_token", refresh_token: random() }, basic),
      )
      await record(
        "token unknown client",
        form("/token", { grant_type: "refresh_token", client_id: random(), refresh_token: random() }),
      )
      await record("revoke", form("/revoke", { token: random(), client_id: client.client_id }))
      await record("revoke access", form("/revoke", { token: `${random()}.${random()}.${random()}` }, basic))
    }
    const expected: Record<string, number> = {
      consent: 400,
      callback: 400,
      "token code": 400,
      "token refresh": 400,
      "token unknown client": 401,
      revoke: 200,
      "revoke access": 200,
    }
    for (const [what, status] of statuses) expect(status, what).toBe(expected[what])
    expect(rows(file), "a refused request must not change the store").toEqual(before)
    expect(gateway.output()).not.toMatch(/"level":"(ERROR|FATAL)"/i)
  }, 40_000)
})

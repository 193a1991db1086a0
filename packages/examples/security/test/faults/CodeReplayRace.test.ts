/**
 * Issue 20, finding 9, against a real gateway: ten redemptions of one code written byte for byte
 * together over raw sockets (all but the last byte, then every last byte at once), on the SQLite
 * store and on Redis. Whatever the interleaving, nothing the code's redemption issued stays alive:
 * at most one 200, and its access token is refused and its refresh token does not refresh.
 *
 * Bounded: a few rounds per store, ten sockets a round, all on 127.0.0.1.
 */
import { connect, type Socket } from "node:net"
import type { Gateway } from "@oidc-proxy/node"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  backFromIdp,
  bearer,
  clientRedirect,
  gatewayEnv,
  refresh,
  startGateway,
  startTarget,
  type Target,
  toIdp,
} from "./flows.ts"
import { freePort, onSqliteAndRedis, type RawAnswer, rawAnswer } from "./processes.ts"

const rounds = 6
const racers = 10

/** Opens a connection and writes all of `request` but its last byte. */
const primed = (port: number, request: Buffer) =>
  new Promise<{ socket: Socket; answer: Promise<RawAnswer> }>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    const answer = rawAnswer(socket)
    socket.once("error", reject)
    socket.once("connect", () => socket.write(request.subarray(0, -1), () => resolve({ socket, answer })))
  })

/** `racers` redemptions of `code`, released together. */
const race = async (port: number, form: Record<string, string>): Promise<ReadonlyArray<RawAnswer>> => {
  const body = new URLSearchParams(form).toString()
  const request = Buffer.from(
    `POST /token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
  const sockets = await Promise.all(Array.from({ length: racers }, () => primed(port, request)))
  for (const s of sockets) s.socket.write(request.subarray(-1))
  return Promise.all(sockets.map((s) => s.answer))
}

const raceOnStore = (store: () => string) => {
  let idp: FakeIdp
  let target: Target
  let gateway: Gateway.Gateway
  let port: number

  beforeAll(async () => {
    idp = await startFakeIdp()
    target = await startTarget()
    port = await freePort()
    const url = `http://127.0.0.1:${port}`
    gateway = await startGateway(
      gatewayEnv(url, target.url, idp, store(), { OIDC_PROXY_LISTEN: `127.0.0.1:${port}` }),
    )
  }, 30_000)

  afterAll(async () => {
    await gateway?.shutdown()
    await target?.close()
    await idp?.close()
  })

  it(`${rounds} rounds of ${racers} raw-socket redemptions of one code: nothing issued stays alive`, async () => {
    const url = `http://127.0.0.1:${port}`
    for (let round = 0; round < rounds; round++) {
      const at = await toIdp(url, idp)
      const code = (await backFromIdp(at)).searchParams.get("code")
      expect(code).not.toBeNull()
      const answers = await race(port, {
        grant_type: "authorization_code",
        code: code!,
        redirect_uri: clientRedirect,
        code_verifier: at.verifier,
        client_id: at.client_id,
      })
      const won = answers.filter((a) => a.status === 200)
      expect(won.length, `round ${round}`).toBeLessThanOrEqual(1)
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status, `round ${round}`).toBe(400)
        expect(a.body["error"]).toBe("invalid_grant")
      }
      for (const w of won) {
        expect((await bearer(url, w.body["access_token"] as string)).status, `round ${round}`).toBe(401)
        const refreshed = await refresh(url, {
          client_id: at.client_id,
          refresh_token: w.body["refresh_token"] as string,
        })
        expect(refreshed.status, `round ${round}`).toBe(400)
      }
    }
  }, 60_000)
}

onSqliteAndRedis("code replay race over HTTP", "oidc-proxy-code-race-", raceOnStore)

/**
 * Races a hostile client can start against two real gateway processes (the `oidc-proxy` binary)
 * sharing one store — SQLite, then Redis — while a busy-loop child keeps a core loaded. Each round
 * writes every request but its last byte over raw sockets, then every last byte at once, half to
 * each gateway:
 * - two refreshes of one refresh token: one rotation, one answer (the grace window replays it);
 * - a replay of a redeemed code, a refresh of its refresh token and a `/revoke` of it: nothing of
 *   the family survives;
 * - a refresh and a `/revoke` of the same refresh token: nothing survives the 200 from `/revoke`
 *   (it used to find the token in neither place, between the refresh's take and its marker).
 *
 * Bounded: a few rounds per store, at most three sockets a round, 127.0.0.1 only; the load child is
 * killed in `afterAll`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { connect } from "node:net"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import {
  backFromIdp,
  bearer,
  type ClientTokens,
  clientRedirect,
  gatewayEnv,
  redeem,
  refresh,
  startTarget,
  type Target,
  toIdp,
} from "./flows.ts"
import {
  type Front,
  freePort,
  type GatewayProcess,
  onSqliteAndRedis,
  type RawAnswer,
  rawAnswer,
  roundRobinFront,
  spawnGateway,
} from "./processes.ts"

const rounds = 4

interface Raw {
  readonly port: number
  readonly path: "/token" | "/revoke"
  readonly form: Record<string, string>
}

/** Sends every request but its last byte, then all last bytes at once; the answers in order. */
const together = async (requests: ReadonlyArray<Raw>): Promise<ReadonlyArray<RawAnswer>> => {
  const primed = await Promise.all(
    requests.map(
      (r) =>
        new Promise<{ last: () => void; answer: Promise<RawAnswer> }>((resolve, reject) => {
          const body = new URLSearchParams(r.form).toString()
          const bytes = Buffer.from(
            `POST ${r.path} HTTP/1.1\r\nHost: 127.0.0.1:${r.port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
              `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          )
          const socket = connect(r.port, "127.0.0.1")
          const answer = rawAnswer(socket)
          socket.once("error", reject)
          socket.once("connect", () =>
            socket.write(bytes.subarray(0, -1), () =>
              resolve({ last: () => socket.write(bytes.subarray(-1)), answer }),
            ),
          )
        }),
    ),
  )
  for (const p of primed) p.last()
  return Promise.all(primed.map((p) => p.answer))
}

/** What a family left alive: the access token and refresh token of every 200 must be dead. */
const expectDead = async (
  url: string,
  client_id: string,
  answers: ReadonlyArray<RawAnswer>,
  where: string,
) => {
  for (const a of answers.filter((x) => x.status === 200 && typeof x.body["access_token"] === "string")) {
    expect((await bearer(url, a.body["access_token"] as string)).status, where).toBe(401)
    const again = await refresh(url, { client_id, refresh_token: a.body["refresh_token"] as string })
    expect(again.status, `${where}: ${again.text}`).toBe(400)
  }
}

const racesOnStore = (store: () => string) => {
  let idp: FakeIdp
  let target: Target
  let front: Front
  let load: ChildProcess
  const gateways: Array<GatewayProcess> = []
  const ports: Array<number> = []

  beforeAll(async () => {
    idp = await startFakeIdp()
    target = await startTarget()
    const frontPort = await freePort()
    const base = `http://127.0.0.1:${frontPort}`
    for (let i = 0; i < 2; i++) {
      const port = await freePort()
      ports.push(port)
      gateways.push(
        await spawnGateway(
          `http://127.0.0.1:${port}`,
          gatewayEnv(base, target.url, idp, store(), { OIDC_PROXY_LISTEN: `127.0.0.1:${port}` }),
        ),
      )
    }
    front = await roundRobinFront(
      frontPort,
      ports.map((p) => `127.0.0.1:${p}`),
    )
    // Sign-ins go through A; the races address each gateway directly.
    front.route = 0
    load = spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" })
  }, 60_000)

  afterAll(async () => {
    load?.kill("SIGKILL")
    await Promise.all(gateways.map((g) => g.stop()))
    await front?.close()
    await target?.close()
    await idp?.close()
  })

  /** A fresh sign-in through the front: the client's tokens and the redeemed code. */
  const signedIn = async (): Promise<{ tokens: ClientTokens; code: string; verifier: string }> => {
    const at = await toIdp(front.url, idp)
    const code = (await backFromIdp(at)).searchParams.get("code")!
    return { tokens: await redeem(front.url, at, code), code, verifier: at.verifier }
  }

  const refreshOn = (port: number, t: ClientTokens): Raw => ({
    port,
    path: "/token",
    form: { grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: t.client_id },
  })
  const revokeOn = (port: number, t: ClientTokens): Raw => ({
    port,
    path: "/revoke",
    form: { token: t.refresh_token, token_type_hint: "refresh_token", client_id: t.client_id },
  })

  it(`${rounds} rounds: two refreshes of one token on two gateways - one rotation, one answer`, async () => {
    for (let round = 0; round < rounds; round++) {
      const { tokens } = await signedIn()
      const answers = await together([refreshOn(ports[0]!, tokens), refreshOn(ports[1]!, tokens)])
      const ok = answers.filter((a) => a.status === 200)
      for (const a of answers.filter((x) => x.status !== 200))
        expect(["temporarily_unavailable"], `round ${round}: ${JSON.stringify(a)}`).toContain(a.body["error"])
      expect(ok.length, `round ${round}`).toBeGreaterThanOrEqual(1)
      expect(new Set(ok.map((a) => a.body["refresh_token"])).size, `round ${round}: one rotation`).toBe(1)
      const next = { ...tokens, refresh_token: ok[0]!.body["refresh_token"] as string }
      expect((await refresh(front.url, next)).status, `round ${round}: the one new token works`).toBe(200)
    }
  }, 90_000)

  it(`${rounds} rounds: code replay, refresh and /revoke together - nothing of the family survives`, async () => {
    for (let round = 0; round < rounds; round++) {
      const { tokens, code, verifier } = await signedIn()
      const replay: Raw = {
        port: ports[1]!,
        path: "/token",
        form: {
          grant_type: "authorization_code",
          code,
          redirect_uri: clientRedirect,
          code_verifier: verifier,
          client_id: tokens.client_id,
        },
      }
      const answers = await together([replay, refreshOn(ports[0]!, tokens), revokeOn(ports[1]!, tokens)])
      expect(answers[0]!.status, `round ${round}`).toBe(400)
      expect(answers[2]!.status, `round ${round}`).toBe(200)
      expect((await bearer(front.url, tokens.access_token)).status, `round ${round}`).toBe(401)
      await expectDead(front.url, tokens.client_id, answers, `round ${round}`)
    }
  }, 90_000)

  it(`${rounds} rounds: refresh and /revoke of one token on two gateways - nothing survives the 200`, async () => {
    for (let round = 0; round < rounds; round++) {
      const { tokens } = await signedIn()
      const answers = await together([
        refreshOn(ports[round % 2]!, tokens),
        revokeOn(ports[(round + 1) % 2]!, tokens),
      ])
      expect(answers[1]!.status, `round ${round}`).toBe(200)
      expect((await bearer(front.url, tokens.access_token)).status, `round ${round}`).toBe(401)
      expect((await refresh(front.url, tokens)).status, `round ${round}`).toBe(400)
      await expectDead(front.url, tokens.client_id, answers, `round ${round}`)
    }
  }, 90_000)
}

onSqliteAndRedis("flow races on two gateway processes", "oidc-proxy-flow-races-", racesOnStore)

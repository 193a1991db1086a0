/**
 * The soak's rig: redis-server (append-only, so a restart keeps its data), the testbed's
 * oidc-provider IdP behind a fault-injecting HTTP proxy (JWKS down, token endpoint slow), a
 * recording target, two `oidc-proxy` binaries on the shared Redis store behind a round-robin
 * front, and a whole sign-in through the front without a browser (the testbed's cookie-jar one).
 *
 * Script support (`npm run soak`). Everything binds 127.0.0.1; `stop` ends all of it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createServer, request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { GatewayProcess, HeadlessBrowser, LocalIdp } from "@oidc-proxy/testbed"
import {
  authorizeQuery,
  type ClientTokens,
  clientRedirect,
  postToken,
  registerClient,
  startTarget,
  type Target,
} from "../../test/faults/flows.ts"
import {
  type Front,
  freePort,
  type GatewayProcess as Gw,
  type RedisServer,
  redisServer,
  roundRobinFront,
} from "../../test/faults/processes.ts"

/** What the fault proxy does to the IdP's traffic right now. */
export interface IdpFaults {
  jwksDown: boolean
  tokenDelayMs: number
}

/** A proxy on `port` in front of the IdP on `idpPort`, misbehaving as `faults` says. */
const faultProxy = async (port: number, idpPort: number, faults: IdpFaults) => {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]
    if (faults.jwksDown && path === "/jwks") {
      req.resume()
      res.writeHead(503, { "retry-after": "1" })
      return res.end()
    }
    const forward = () => {
      const upstream = request(
        { host: "127.0.0.1", port: idpPort, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        },
      )
      upstream.once("error", () => {
        if (!res.headersSent) res.writeHead(502)
        res.end()
      })
      req.pipe(upstream)
    }
    if (path === "/token" && faults.tokenDelayMs > 0) setTimeout(forward, faults.tokenDelayMs)
    else forward()
  })
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve))
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
}

export interface Rig {
  /** The front's URL: what every client uses. */
  readonly url: string
  readonly redis: RedisServer
  readonly faults: IdpFaults
  readonly gateways: ReadonlyArray<Gw>
  /** `http://127.0.0.1:port/metrics` of each gateway. */
  readonly metrics: ReadonlyArray<string>
  readonly target: Target
  readonly stop: () => Promise<void>
}

/** Starts everything; on a failed start, stops what had started. */
export const startRig = async (): Promise<Rig> => {
  const stops: Array<() => Promise<void>> = []
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined)
  }
  try {
    const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-soak-"))
    stops.push(async () => rmSync(dir, { recursive: true, force: true }))
    const redis = redisServer(await freePort(), dir)
    await redis.start()
    stops.push(() => redis.stop())
    const proxyPort = await freePort()
    const idp = await LocalIdp.startLocalIdp({
      quiet: true,
      issuer: `http://127.0.0.1:${proxyPort}`,
      client: { redirect_uris: ["http://127.0.0.1/auth/callback"], loopbackAnyPort: true },
    })
    stops.push(() => idp.close())
    const faults: IdpFaults = { jwksDown: false, tokenDelayMs: 0 }
    stops.push(await faultProxy(proxyPort, idp.port, faults))
    const target = await startTarget()
    stops.push(() => target.close())
    const url = `http://127.0.0.1:${await freePort()}`
    const gateways: Array<Gw> = []
    const metrics: Array<string> = []
    for (let i = 0; i < 2; i++) {
      const [port, metricsPort] = [await freePort(), await freePort()]
      metrics.push(`http://127.0.0.1:${metricsPort}/metrics`)
      const gateway = await GatewayProcess.spawnGateway(
        `http://127.0.0.1:${port}`,
        {
          ...GatewayProcess.localIdpEnv(url, target.url, idp),
          OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
          OIDC_PROXY_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
          OIDC_PROXY_STORE: redis.url,
          OIDC_PROXY_SECRET: "soak-shared-secret-0123456789-abcdefghijklmn",
          OIDC_PROXY_LOG_LEVEL: "error",
          // Every client comes from 127.0.0.1: the per-source quotas would refuse the steady sign-ins.
          OIDC_PROXY_REGISTRATION_QUOTA: "0",
          OIDC_PROXY_AUTHORIZE_QUOTA: "0",
        },
        // A loaded machine starts a gateway slowly.
        { readyTimeoutMs: 90_000 },
      )
      stops.push(() => gateway.stop())
      gateways.push(gateway)
    }
    const front: Front = await roundRobinFront(
      Number(new URL(url).port),
      gateways.map((g) => g.url.replace("http://", "")),
    )
    stops.push(() => front.close())
    return { url, redis, faults, gateways, metrics, target, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** DCR, authorize, consent, the IdP's dev login and consent, the callback and `/token`, via `url`. */
export const signIn = async (url: string): Promise<ClientTokens> => {
  const client_id = await registerClient(url)
  const { verifier, query } = await authorizeQuery(client_id)
  const browser = new HeadlessBrowser.HeadlessBrowser()
  const back = await browser.drive(`${url}/authorize?${query}`, {
    stopAt: (u) => u.href.startsWith(clientRedirect),
    onPage: HeadlessBrowser.firstOf(
      HeadlessBrowser.pressButton("decision", "approve"),
      HeadlessBrowser.oidcProviderDevInteractions({ login: "ada" }),
    ),
  })
  const code = back.searchParams.get("code")
  if (code === null) throw new Error(`sign-in ended without a code: ${back.search}`)
  const res = await postToken(url, {
    grant_type: "authorization_code",
    code,
    redirect_uri: clientRedirect,
    code_verifier: verifier,
    client_id,
  })
  if (res.status !== 200) throw new Error(`code redemption answered ${res.status}`)
  return {
    client_id,
    access_token: res.body["access_token"] as string,
    refresh_token: res.body["refresh_token"] as string,
  }
}

/** RSS (MB) and open fds of `pid`, from /proc. */
export const procStats = (pid: number): { rssMb: number; fds: number } => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length }
}

/** Heap used (MB) and active resources from a gateway's Prometheus text. */
export const heapStats = async (metricsUrl: string): Promise<{ heapMb: number; handles: number }> => {
  const text = await (await fetch(metricsUrl)).text()
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? 0)
  return { heapMb: gauge("nodejs_heap_size_used_bytes") / 2 ** 20, handles: gauge("nodejs_active_resources") }
}

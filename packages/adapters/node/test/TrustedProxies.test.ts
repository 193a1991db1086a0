/**
 * Per-source quotas behind a reverse proxy (`OIDC_PROXY_TRUSTED_PROXIES`), through the assembled
 * gateway on real HTTP: callers connect from two loopback addresses, 127.0.0.2 standing for the
 * trusted proxy and 127.0.0.1 for a caller reaching the gateway directly. With the setting, each
 * client the proxy forwards for has its own `/register` budget, and a direct caller's
 * `X-Forwarded-For` is ignored; without it, everyone behind the proxy shares the proxy's budget.
 */
import { request } from "node:http"
import { connect } from "node:net"
import { Store } from "@oidc-proxy/core"
import { Effect, Layer, Result } from "effect"
import { afterEach, assert, describe, it } from "vitest"
import * as Gateway from "../src/Gateway.ts"
import * as GatewayConfig from "../src/GatewayConfig.ts"
import { env, fakeTarget, testServices } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

const baseUrl = "http://127.0.0.1:8080"

/**
 * A gateway allowing 2 registrations per source, trusting `trusted` (unset: the default);
 * `written` collects the store keys it writes.
 */
const start = async (trusted?: string, written: Array<string> = []) => {
  const target = await fakeTarget()
  closers.push(target.close)
  const decoded = GatewayConfig.decode(
    env({
      OIDC_PROXY_BASE_URL: baseUrl,
      OIDC_PROXY_LISTEN: "127.0.0.1:0",
      OIDC_PROXY_TARGET: `${target.url}/mcp`,
      OIDC_PROXY_LOG_LEVEL: "none",
      ...(trusted === undefined ? {} : { OIDC_PROXY_TRUSTED_PROXIES: trusted }),
    }),
  )
  if (Result.isFailure(decoded)) throw decoded.failure
  const memory = Effect.runSync(Store.makeMemory)
  const store = Layer.succeed(Store.Store, {
    ...memory,
    set: (key, value, ttl) =>
      Effect.suspend(() => {
        written.push(key)
        return memory.set(key, value, ttl)
      }),
  })
  const services = await testServices(baseUrl, store, { quotas: { registrations_per_source: 2 } })
  const gateway = await Gateway.start(decoded.success, { services: services.layer })
  closers.unshift(gateway.shutdown)
  return gateway.url
}

const body = JSON.stringify({ redirect_uris: ["http://127.0.0.1:3000/callback"], client_name: "c" })

/** POST /register from the loopback address `from`, with `forwardedFor` as `X-Forwarded-For`. */
const register = (url: string, from: string, forwardedFor?: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = request(
      `${url}/register`,
      {
        method: "POST",
        localAddress: from,
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
        },
        timeout: 5000,
      },
      (res) => {
        res.resume()
        res.on("end", () => resolve(res.statusCode ?? 0))
      },
    )
    req.on("timeout", () => req.destroy(new Error("no answer within 5 s")))
    req.on("error", reject)
    req.end(body)
  })

const proxy = "127.0.0.2"
const direct = "127.0.0.1"

describe("TrustedProxies (gateway)", () => {
  it("register - behind a trusted proxy, each forwarded client has its own budget", async () => {
    const url = await start(`${proxy}, 10.0.0.0/8`)
    assert.deepStrictEqual(
      [
        await register(url, proxy, "198.51.100.1"),
        await register(url, proxy, "198.51.100.1"),
        await register(url, proxy, "198.51.100.1"),
      ],
      [201, 201, 429],
    )
    // Another client behind the same proxy: a budget of its own.
    assert.strictEqual(await register(url, proxy, "198.51.100.2"), 201)
    // What the caller wrote left of the address the proxy appended is not read.
    assert.strictEqual(await register(url, proxy, "203.0.113.9, 198.51.100.1"), 429)
    // Hops through other trusted proxies are skipped: the client is still 198.51.100.1.
    assert.strictEqual(await register(url, proxy, "198.51.100.1, 10.1.2.3"), 429)
    assert.strictEqual(await register(url, proxy, "198.51.100.2, 10.1.2.3"), 201)
  })

  it("register - two clients the proxy writes as IPv4-mapped IPv6 in hex have two budgets", async () => {
    // `::ffff:c633:6401` is 198.51.100.1 (Python's `ipaddress` writes mapped addresses so): each
    // spelling counts as the IPv4 address, never as one IPv6 /64 shared by every IPv4 client.
    const url = await start(proxy)
    assert.deepStrictEqual(
      [
        await register(url, proxy, "::ffff:c633:6401"),
        await register(url, proxy, "::ffff:c633:6401"),
        await register(url, proxy, "::ffff:c633:6402"),
        await register(url, proxy, "198.51.100.1"),
      ],
      [201, 201, 201, 429],
    )
  })

  it("register - a direct caller's X-Forwarded-For is ignored: it is counted by its socket address", async () => {
    const url = await start(proxy)
    assert.deepStrictEqual(
      [
        await register(url, direct, "198.51.100.1"),
        await register(url, direct, "198.51.100.2"),
        await register(url, direct, "198.51.100.3"),
        await register(url, direct),
      ],
      [201, 201, 429, 429],
    )
    // The proxy's own budget is another one (its clients are counted apart from the direct caller).
    assert.strictEqual(await register(url, proxy, "198.51.100.1"), 201)
  })

  it("register - a caller that resets the connection right after its request is still counted", async () => {
    // Its address was read from the socket when the request was handled; once the peer has reset
    // the connection the kernel no longer names it, and an uncounted request skipped the quota.
    for (const trusted of [undefined, proxy]) {
      const written: Array<string> = []
      const url = await start(trusted, written)
      const { port } = new URL(url)
      for (let i = 0; i < 5; i++)
        await new Promise<void>((resolve, reject) => {
          const socket = connect({ host: "127.0.0.1", port: Number(port), localAddress: direct }, () =>
            socket.write(
              `POST /register HTTP/1.1\r\nHost: 127.0.0.1:8080\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
              () => socket.resetAndDestroy(),
            ),
          )
          socket.on("close", () => resolve())
          socket.on("error", (error) =>
            (error as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(error),
          )
        })
      // Every registration the gateway handled, reset or not, counts: of these eight, two are stored.
      const answers = [await register(url, direct), await register(url, direct), await register(url, direct)]
      assert.strictEqual(answers.at(-1), 429)
      const stored = written.filter((key) => key.startsWith("client:"))
      assert.isAtMost(stored.length, 2, `${trusted ?? "no trusted proxies"}: ${stored.length} clients stored`)
    }
  })

  it("register - without the setting, every client behind the proxy shares its budget", async () => {
    const url = await start()
    assert.deepStrictEqual(
      [
        await register(url, proxy, "198.51.100.1"),
        await register(url, proxy, "198.51.100.2"),
        await register(url, proxy, "198.51.100.3"),
      ],
      [201, 201, 429],
    )
  })

  it("forward - the caller's X-Forwarded-For reaches the target as sent: nothing appended", async () => {
    const target = await fakeTarget()
    closers.push(target.close)
    const decoded = GatewayConfig.decode(
      env({
        OIDC_PROXY_BASE_URL: baseUrl,
        OIDC_PROXY_LISTEN: "127.0.0.1:0",
        OIDC_PROXY_TARGET: `${target.url}/mcp`,
        OIDC_PROXY_LOG_LEVEL: "none",
        OIDC_PROXY_TRUSTED_PROXIES: proxy,
      }),
    )
    if (Result.isFailure(decoded)) throw decoded.failure
    const services = await testServices(baseUrl)
    const gateway = await Gateway.start(decoded.success, { services: services.layer })
    closers.unshift(gateway.shutdown)
    const token = await services.issue({ sub: "user-1" })
    const { port } = new URL(gateway.url)
    // Two header lines and an underscore spelling, from a direct caller and from the proxy; the
    // first request takes the Fetch path, the later ones the fast path (a remembered bearer).
    const head = [
      "GET /mcp HTTP/1.1",
      "Host: 127.0.0.1:8080",
      `Authorization: Bearer ${token}`,
      "X-Forwarded-For: 203.0.113.6",
      "X-Forwarded-For: 198.51.100.1",
      "x_forwarded_for: 203.0.113.7",
      "Connection: close",
    ].join("\r\n")
    for (const from of [direct, proxy, proxy]) {
      const status = await new Promise<string>((resolve, reject) => {
        const socket = connect({ host: "127.0.0.1", port: Number(port), localAddress: from })
        let answer = ""
        socket.setTimeout(5000, () => socket.destroy(new Error("no answer within 5 s")))
        socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")))
        socket.on("end", () => resolve(answer.split("\r\n")[0]!))
        socket.on("error", reject)
        socket.write(`${head}\r\n\r\n`)
      })
      assert.strictEqual(status, "HTTP/1.1 200 OK")
      const seen = target.seen.at(-1)!.headers
      assert.strictEqual(seen["x-forwarded-for"], "203.0.113.6, 198.51.100.1", from)
      assert.strictEqual(seen["x_forwarded_for"], "203.0.113.7", from)
    }
    assert.strictEqual(target.seen.length, 3)
  })

  it("config - a bad entry is a config error naming the variable and the entry", () => {
    const decoded = GatewayConfig.decode(env({ OIDC_PROXY_TRUSTED_PROXIES: "127.0.0.1, 10.0.0/8" }))
    assert.isTrue(Result.isFailure(decoded))
    if (Result.isFailure(decoded))
      assert.match(
        decoded.failure.message,
        /OIDC_PROXY_TRUSTED_PROXIES: "10\.0\.0\/8" is not an IP address or CIDR block/,
      )
  })
})

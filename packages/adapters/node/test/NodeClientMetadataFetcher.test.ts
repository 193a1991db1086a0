import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createHttpsServer, type Server } from "node:https"
import type { AddressInfo } from "node:net"
import { ClientMetadataFetcher } from "@oidc-proxy/core"
import { ClientMetadataDocumentServer } from "@oidc-proxy/testbed"
import { Effect, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as NodeClientMetadataFetcher from "../src/NodeClientMetadataFetcher.ts"

const selfSigned = ClientMetadataDocumentServer.selfSignedCertificate

const routes = (hits: Map<string, number>) => (req: IncomingMessage, res: ServerResponse) => {
  // Counted and routed by path: a query string only makes another URL of the same document.
  const path = (req.url ?? "/").split("?")[0]!
  hits.set(path, (hits.get(path) ?? 0) + 1)
  const json = (body: string, headers: Record<string, string> = {}) => {
    res.writeHead(200, { "content-type": "application/json", ...headers })
    res.end(body)
  }
  switch (path) {
    case "/client.json":
      return json(JSON.stringify({ client_id: "x" }), { "cache-control": "max-age=300" })
    case "/redirect":
      res.writeHead(302, { location: "/client.json" })
      return res.end()
    case "/big":
      return json(JSON.stringify({ pad: "x".repeat(6000) }))
    case "/big-chunked":
      res.writeHead(200, { "content-type": "application/json" })
      for (let i = 0; i < 10; i++) res.write("x".repeat(1000))
      return res.end()
    case "/html":
      res.writeHead(200, { "content-type": "text/html" })
      return res.end("{}")
    case "/missing":
      res.writeHead(404, { "content-type": "application/json" })
      return res.end("{}")
    case "/not-json":
      return json("{not json")
    case "/slow":
      return // never answers
    case "/slow-json":
      setTimeout(() => json(JSON.stringify({ client_id: "slow" })), 500)
      return
    default:
      res.writeHead(404)
      return res.end()
  }
}

describe("NodeClientMetadataFetcher", () => {
  const hits = new Map<string, number>()
  let https: Server
  let http: ReturnType<typeof createHttpServer>
  let ca: string
  let httpsPort: number
  let httpPort: number

  beforeAll(async () => {
    const tls = selfSigned()
    ca = tls.cert
    https = createHttpsServer({ key: tls.key, cert: tls.cert }, routes(hits))
    http = createHttpServer(routes(hits))
    await new Promise<void>((r) => https.listen(0, "127.0.0.1", r))
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r))
    httpsPort = (https.address() as AddressInfo).port
    httpPort = (http.address() as AddressInfo).port
  })
  afterAll(async () => {
    https.closeAllConnections()
    http.closeAllConnections()
    await new Promise((r) => https.close(r))
    await new Promise((r) => http.close(r))
  })

  const count = (path: string) => hits.get(path) ?? 0
  const fetchJson = (url: string, options: NodeClientMetadataFetcher.Options = {}) =>
    NodeClientMetadataFetcher.fetchJson(url, { ca, allowLoopback: true, timeoutMs: 2000, ...options })
  const reasonOf = async (promise: Promise<unknown>) => {
    try {
      await promise
      return "fetched"
    } catch (e) {
      return (e as { reason?: string }).reason ?? String(e)
    }
  }

  it("fetch - https JSON within the limits, with its Cache-Control (development option on)", async () => {
    const before = count("/client.json")
    const fetched = await fetchJson(`https://127.0.0.1:${httpsPort}/client.json`)
    expect(fetched.body).toEqual({ client_id: "x" })
    expect(fetched.cacheControl).toBe("max-age=300")
    expect(count("/client.json")).toBe(before + 1)
  })

  it("address - loopback is refused without the development option, by literal and by name; nothing reaches the server", async () => {
    const before = count("/client.json")
    expect(
      await reasonOf(fetchJson(`https://127.0.0.1:${httpsPort}/client.json`, { allowLoopback: false })),
    ).toBe("address")
    expect(
      await reasonOf(fetchJson(`https://localhost:${httpsPort}/client.json`, { allowLoopback: false })),
    ).toBe("address")
    expect(
      await reasonOf(fetchJson(`https://[::1]:${httpsPort}/client.json`, { allowLoopback: false })),
    ).toBe("address")
    expect(count("/client.json")).toBe(before)
  })

  it("address - names resolving to private, link-local, CGNAT, metadata or mixed addresses are refused before connecting", async () => {
    for (const addresses of [
      ["10.0.0.5"],
      ["192.168.1.10"],
      ["172.20.0.1"],
      ["169.254.169.254"],
      ["100.64.0.9"],
      ["fe80::1"],
      ["fd00:ec2::254"],
      ["::ffff:127.0.0.1"],
      ["0.0.0.0"],
      ["93.184.216.34", "10.0.0.5"],
    ]) {
      const reason = await reasonOf(
        fetchJson("https://docs.test/client.json", {
          allowLoopback: false,
          resolve: async () =>
            addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 })),
          timeoutMs: 500,
        }),
      )
      expect(reason, addresses.join(",")).toBe("address")
    }
    for (const literal of ["10.0.0.1", "169.254.169.254", "[fd00::1]", "100.100.100.200"])
      expect(
        await reasonOf(fetchJson(`https://${literal}/client.json`, { allowLoopback: false })),
        literal,
      ).toBe("address")
  })

  it("address - the connection goes to the checked address (no second lookup: DNS rebinding cannot switch it)", async () => {
    const answers = [["127.0.0.1"], ["10.0.0.1"]]
    let lookups = 0
    const before = count("/client.json")
    const fetched = await fetchJson(`https://docs.test:${httpsPort}/client.json`, {
      resolve: async () => (answers[lookups++] ?? ["10.0.0.1"]).map((address) => ({ address, family: 4 })),
    })
    expect(fetched.body).toEqual({ client_id: "x" })
    expect(lookups).toBe(1)
    expect(count("/client.json")).toBe(before + 1)
  })

  it("scheme - http is refused (also with the development option unless the host is a loopback name); nothing fetched", async () => {
    const before = count("/client.json")
    expect(
      await reasonOf(fetchJson(`http://127.0.0.1:${httpPort}/client.json`, { allowLoopback: false })),
    ).toBe("scheme")
    expect(await reasonOf(fetchJson("http://docs.test/client.json"))).toBe("scheme")
    expect(await reasonOf(fetchJson("ftp://127.0.0.1/client.json"))).toBe("scheme")
    expect(await reasonOf(fetchJson(`https://user:pw@127.0.0.1:${httpsPort}/client.json`))).toBe("scheme")
    expect(count("/client.json")).toBe(before)
    // With the option, loopback http is fetched.
    expect(await reasonOf(fetchJson(`http://127.0.0.1:${httpPort}/client.json`))).toBe("fetched")
  })

  it("redirect - never followed: the target is not requested", async () => {
    const before = count("/client.json")
    expect(await reasonOf(fetchJson(`https://127.0.0.1:${httpsPort}/redirect`))).toBe("redirect")
    expect(count("/redirect")).toBe(1)
    expect(count("/client.json")).toBe(before)
  })

  it("limits - size (declared and streamed), Content-Type, status, JSON syntax, timeout", async () => {
    const base = `https://127.0.0.1:${httpsPort}`
    expect(await reasonOf(fetchJson(`${base}/big`))).toBe("too_large")
    expect(await reasonOf(fetchJson(`${base}/big-chunked`))).toBe("too_large")
    expect(await reasonOf(fetchJson(`${base}/html`))).toBe("content_type")
    expect(await reasonOf(fetchJson(`${base}/missing`))).toBe("status")
    expect(await reasonOf(fetchJson(`${base}/not-json`))).toBe("malformed")
    const started = Date.now()
    expect(await reasonOf(fetchJson(`${base}/slow`, { timeoutMs: 300 }))).toBe("timeout")
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it("coalescing - concurrent fetches of one URL share one request; settled ones are not kept", async () => {
    const fetcher = NodeClientMetadataFetcher.make({ ca, allowLoopback: true, timeoutMs: 2000 })
    const run = (url: string) => Effect.runPromise(Effect.result(fetcher.fetch(url)))
    const url = `https://127.0.0.1:${httpsPort}/client.json`
    const before = count("/client.json")
    const results = await Promise.all(Array.from({ length: 10 }, () => run(url)))
    expect(results.every((r) => r._tag === "Success")).toBe(true)
    expect(count("/client.json")).toBe(before + 1)
    // Settled: the next fetch is a new request, for a success and for a failure alike.
    await run(url)
    expect(count("/client.json")).toBe(before + 2)
    const missing = count("/missing")
    const failed = await Promise.all(
      Array.from({ length: 5 }, () => run(`${url.replace("/client.json", "/missing")}`)),
    )
    expect(failed.every((r) => r._tag === "Failure")).toBe(true)
    expect(count("/missing")).toBe(missing + 1)
    await run(url.replace("/client.json", "/missing"))
    expect(count("/missing")).toBe(missing + 2)
  })

  it("bound - at most maxConcurrent different URLs in flight; one more fails as busy at once, not queued", async () => {
    const fetcher = NodeClientMetadataFetcher.make({
      ca,
      allowLoopback: true,
      timeoutMs: 2000,
      maxConcurrent: 2,
    })
    const base = `https://127.0.0.1:${httpsPort}`
    const run = (url: string) => Effect.runPromise(Effect.result(fetcher.fetch(url)))
    const before = count("/slow-json")
    const first = run(`${base}/slow-json`)
    const second = run(`${base}/slow-json?two`)
    const sameAsFirst = run(`${base}/slow-json`) // merged with the first: not a third URL
    const third = await run(`${base}/client.json`)
    expect(third._tag === "Failure" && third.failure.reason).toBe("busy")
    const settled = await Promise.all([first, second, sameAsFirst])
    expect(settled.map((r) => r._tag)).toEqual(["Success", "Success", "Success"])
    expect(count("/slow-json")).toBe(before + 2)
    // Once they settled there is room again.
    expect((await run(`${base}/client.json`))._tag).toBe("Success")
  })

  it("bound - 32 slow documents from one host or one source leave another host's document fetchable at once", async () => {
    // docs.test and 127.0.0.1 are two hosts (the certificate names both; docs.test resolves here).
    // They are one address, so the address bound (tested below) is lifted here.
    const fetcher = NodeClientMetadataFetcher.make({
      ca,
      allowLoopback: true,
      timeoutMs: 2000,
      maxConcurrentPerAddress: 64,
      resolve: async () => [{ address: "127.0.0.1", family: 4 }],
    })
    const attackerHost = `https://docs.test:${httpsPort}`
    const otherHost = `https://127.0.0.1:${httpsPort}`
    const run = (url: string, source?: string) =>
      Effect.runPromise(
        Effect.result(
          source === undefined
            ? fetcher.fetch(url)
            : fetcher.fetch(url).pipe(Effect.provideService(ClientMetadataFetcher.Source, source)),
        ),
      )
    // One host, many sources: the host's share is taken, the rest are refused at once.
    const flood = Array.from({ length: 32 }, (_, i) => run(`${attackerHost}/slow-json?${i}`, `10.0.0.${i}`))
    const victim = await run(`${otherHost}/client.json`, "192.0.2.1")
    expect(victim._tag).toBe("Success")
    const flooded = await Promise.all(flood)
    expect(flooded.filter((r) => r._tag === "Success")).toHaveLength(4)
    expect(flooded.filter((r) => r._tag === "Failure" && r.failure.reason === "busy")).toHaveLength(28)

    // One source, many hosts: its share is taken; another source still gets its document.
    const hosts = [attackerHost, otherHost, `https://localhost:${httpsPort}`]
    const fromOne = Array.from({ length: 32 }, (_, i) =>
      run(`${hosts[i % 3]}/slow-json?s${i}`, "198.51.100.7"),
    )
    const other = await run(`${otherHost}/client.json?fresh`, "192.0.2.1")
    expect(other._tag).toBe("Success")
    expect((await Promise.all(fromOne)).filter((r) => r._tag === "Success")).toHaveLength(4)
  })

  it("bound - one address under many host names and ports takes 4 slots, not 4 per name", async () => {
    const fetcher = NodeClientMetadataFetcher.make({
      ca,
      allowLoopback: true,
      timeoutMs: 2000,
      resolve: async () => [{ address: "127.0.0.1", family: 4 }],
    })
    const hosts = [`docs.test:${httpsPort}`, `localhost:${httpsPort}`, `127.0.0.1:${httpsPort}`]
    const run = (url: string) => Effect.runPromise(Effect.result(fetcher.fetch(url)))
    // 3 hosts × 4 = 12 slots by host; the machine behind them gets 4.
    const flood = await Promise.all(
      Array.from({ length: 12 }, (_, i) => run(`https://${hosts[i % 3]}/slow-json?a${i}`)),
    )
    expect(flood.filter((r) => r._tag === "Success")).toHaveLength(4)
    expect(flood.filter((r) => r._tag === "Failure" && r.failure.reason === "busy")).toHaveLength(8)
  })

  it("addressKey - IPv4 as written (also IPv4-mapped), IPv6 by its /64", () => {
    expect(NodeClientMetadataFetcher.addressKey("203.0.113.9")).toBe("203.0.113.9")
    expect(NodeClientMetadataFetcher.addressKey("::ffff:203.0.113.9")).toBe("203.0.113.9")
    expect(NodeClientMetadataFetcher.addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64")
    expect(NodeClientMetadataFetcher.addressKey("2001:0db8:0:0:ffff::2")).toBe("2001:db8:0:0::/64")
    expect(NodeClientMetadataFetcher.addressKey("2001:db8:aa:1:1::")).toBe("2001:db8:aa:1::/64")
  })

  it("coalescing - an interrupted waiter leaves the fetch to the others; other URLs and timed-out fetches are not shared", async () => {
    const fetcher = NodeClientMetadataFetcher.make({ ca, allowLoopback: true, timeoutMs: 2000 })
    const base = `https://127.0.0.1:${httpsPort}`
    const before = count("/slow-json")
    const a = Effect.runFork(fetcher.fetch(`${base}/slow-json`))
    const b = Effect.runPromise(Effect.result(fetcher.fetch(`${base}/slow-json`)))
    // Both wait on the one request (the server answers it 500 ms after it arrives); A gives up.
    while (count("/slow-json") === before) await new Promise((r) => setTimeout(r, 5))
    await Effect.runPromise(Fiber.interrupt(a))
    const answered = await b
    expect(answered._tag === "Success" && (answered.success.body as { client_id: string }).client_id).toBe(
      "slow",
    )
    expect(count("/slow-json")).toBe(before + 1)
    // Another URL (case included) is its own fetch, with its own answer.
    const [ok, other] = await Promise.all(
      [`${base}/client.json`, `${base}/Client.json`].map((u) =>
        Effect.runPromise(Effect.result(fetcher.fetch(u))),
      ),
    )
    expect(ok!._tag).toBe("Success")
    expect(other!._tag).toBe("Failure")
    // A fetch that timed out is not kept: the next one waits out its own timeout again.
    const quick = NodeClientMetadataFetcher.make({ ca, allowLoopback: true, timeoutMs: 300 })
    const timedOut = await Promise.all(
      [1, 2].map(() => Effect.runPromise(Effect.result(quick.fetch(`${base}/slow`)))),
    )
    expect(timedOut.map((r) => r._tag === "Failure" && r.failure.reason)).toEqual(["timeout", "timeout"])
    const started = Date.now()
    const again = await Effect.runPromise(Effect.result(quick.fetch(`${base}/slow`)))
    expect(again._tag === "Failure" && again.failure.reason).toBe("timeout")
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  })

  it("tls - a certificate the fetcher does not trust is refused", async () => {
    expect(
      await reasonOf(
        NodeClientMetadataFetcher.fetchJson(`https://127.0.0.1:${httpsPort}/client.json`, {
          allowLoopback: true,
          timeoutMs: 2000,
        }),
      ),
    ).toBe("unreachable")
  })
})

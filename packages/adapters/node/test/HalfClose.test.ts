/**
 * A client that half-closes its side of the connection (`shutdown(SHUT_WR)`, `socket.end()`) right
 * after a complete request still gets its answer, then the connection is closed; a request cut
 * short by the close still aborts the target request. Raw `node:net` sockets against the gateway
 * on 127.0.0.1: `/healthz`, a protected GET on the Fetch path (a bearer not yet remembered) and on
 * the fast path (remembered), and a POST whose body ends early.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { type AddressInfo, connect } from "node:net"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { startInProcess } from "./fixtures.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

const baseUrl = "http://127.0.0.1:8080"

/**
 * Writes `bytes`, half-closes (at once, or once `before` resolves), and reads until the gateway
 * closes (bounded: 5 s).
 */
const halfClosed = (
  url: string,
  bytes: string,
  before?: (received: () => string) => Promise<void>,
): Promise<string> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const chunks: Array<Buffer> = []
    const socket = connect(Number(port), hostname, () => {
      socket.write(bytes)
      if (before === undefined) socket.end()
      else void before(() => Buffer.concat(chunks).toString("latin1")).then(() => socket.end())
    })
    const timer = setTimeout(() => socket.destroy(new Error("the connection stayed open for 5 s")), 5000)
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on("close", () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString("latin1"))
    })
  })

/** A target that answers whole requests with their path and records requests cut before their end. */
const recordingTarget = async () => {
  const seen: Array<string> = []
  const started: Array<string> = []
  const cut: Array<string> = []
  /** Streams answered to `/mcp/stream` whose connection the gateway closed. */
  const streamsClosed: Array<string> = []
  const server = createServer((req, res) => {
    started.push(req.url ?? "")
    if (req.url === "/mcp/stream") {
      res.writeHead(200, { "content-type": "text/event-stream" })
      res.write("data: one\n\n")
      res.once("close", () => streamsClosed.push(req.url ?? ""))
      return
    }
    req.on("close", () => {
      if (!req.complete) cut.push(req.url ?? "")
    })
    req.resume()
    req.on("end", () => {
      seen.push(req.url ?? "")
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ path: req.url }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    started,
    cut,
    streamsClosed,
    close,
  }
}

const setup = async () => {
  const target = await recordingTarget()
  closers.push(target.close)
  const { gateway, services } = await startInProcess(baseUrl, target.url)
  closers.unshift(gateway.shutdown)
  const token = await services.issue({ sub: "alice" }, ["openid"])
  return { gateway, target, token }
}

/** Waits (bounded: 5 s) until `done` holds. */
const eventually = async (done: () => boolean): Promise<void> => {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50))
}

const get = (path: string, token?: string) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n${token === undefined ? "" : `Authorization: Bearer ${token}\r\n`}\r\n`

describe("Half-closed connections", () => {
  it("GET /healthz then FIN: answered 200, then the connection is closed", async () => {
    const { gateway } = await setup()
    const answer = await halfClosed(gateway.url, get("/healthz"))
    assert.match(answer, /^HTTP\/1\.1 200 /)
    assert.include(answer, '{"status":"ok"}')
  })

  it("protected GET then FIN: answered by the target, on the Fetch path and on the fast path", async () => {
    const { gateway, target, token } = await setup()
    // First use of the bearer: the Fetch path verifies it (and remembers it).
    const cold = await halfClosed(gateway.url, get("/mcp/x", token))
    assert.match(cold, /^HTTP\/1\.1 200 /)
    assert.include(cold, '{"path":"/mcp/x"}')
    // Remembered: the fast path forwards it.
    const warm = await halfClosed(gateway.url, get("/mcp/y", token))
    assert.match(warm, /^HTTP\/1\.1 200 /)
    assert.include(warm, '{"path":"/mcp/y"}')
    assert.deepStrictEqual(target.seen, ["/mcp/x", "/mcp/y"])
  })

  it("a FIN once a streamed answer has started: the client is gone, the target stream is cut", async () => {
    const { gateway, target, token } = await setup()
    // Not remembered (the Fetch path), then remembered (the fast path).
    for (const round of [1, 2]) {
      // The FIN comes once the client has the stream's first event.
      const answer = await halfClosed(gateway.url, get("/mcp/stream", token), (received) =>
        eventually(() => received().includes("data: one")),
      )
      await eventually(() => target.streamsClosed.length === round)
      assert.strictEqual(target.streamsClosed.length, round, answer)
    }
  })

  it("a FIN once a streamed answer has started, with a second request pipelined behind it: the stream is still cut", async () => {
    const { gateway, target, token } = await setup()
    for (const round of [1, 2]) {
      // The second request's answer waits behind the stream's; the FIN must still end the stream.
      const answer = await halfClosed(
        gateway.url,
        `${get("/mcp/stream", token)}${get("/mcp/z", token)}`,
        (received) => eventually(() => received().includes("data: one") && target.seen.length === round),
      )
      await eventually(() => target.streamsClosed.length === round)
      assert.strictEqual(target.streamsClosed.length, round, answer)
    }
  })

  it("a POST whose body ends at the FIN is aborted: the target request is cut, never completed", async () => {
    const { gateway, target, token } = await setup()
    const post = (path: string) =>
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"jsonrpc":`
    // A bearer not yet remembered: the Fetch path streams the body to the target; the FIN comes
    // once the target has the request, and aborts it.
    const started = () => eventually(() => target.started.includes("/mcp/a"))
    assert.notMatch(await halfClosed(gateway.url, post("/mcp/a"), started), /^HTTP\/1\.1 2/)
    await eventually(() => target.cut.length > 0)
    assert.deepStrictEqual(target.cut, ["/mcp/a"])
    // Remembered (the fast path reads a small body whole first): the target is not asked at all.
    assert.match(await halfClosed(gateway.url, get("/mcp/warm", token)), /^HTTP\/1\.1 200 /)
    assert.notMatch(await halfClosed(gateway.url, post("/mcp/b")), /^HTTP\/1\.1 2/)
    assert.deepStrictEqual(target.seen, ["/mcp/warm"])
    assert.deepStrictEqual(target.cut, ["/mcp/a"])
  })
})

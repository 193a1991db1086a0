/**
 * Tests of the Node listener over real HTTP on 127.0.0.1: what happens when the intercept hook
 * (the gateway's fast path) fails, and the source of a request whose caller reset the connection.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { type AddressInfo, connect } from "node:net"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { RequestInput } from "@oidc-proxy/http"
import * as NodeServer from "../src/NodeServer.ts"

const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

describe("NodeServer", () => {
  it("listen - an intercept that throws before answering leaves the request to the fetch handler", async () => {
    let intercepts = 0
    const listening = await NodeServer.listen(async () => new Response("from the handler", { status: 200 }), {
      host: "127.0.0.1",
      port: 0,
      intercept: () => {
        intercepts++
        throw new Error("fast path bug")
      },
    })
    closers.push(listening.close)
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${listening.url}/mcp`)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(await response.text(), "from the handler")
    }
    assert.strictEqual(intercepts, 2)
  })

  it("listen - an intercept that throws after starting its answer cuts that response, the server keeps serving", async () => {
    let first = true
    const listening = await NodeServer.listen(async () => new Response("ok"), {
      host: "127.0.0.1",
      port: 0,
      intercept: (_req, res) => {
        if (!first) return false
        first = false
        res.writeHead(200, { "content-type": "text/plain" })
        res.flushHeaders()
        throw new Error("fast path bug mid-answer")
      },
    })
    closers.push(listening.close)
    const cut = await fetch(`${listening.url}/a`)
      .then((r) => r.text())
      .then(
        () => "complete",
        () => "cut",
      )
    assert.strictEqual(cut, "cut")
    const next = await fetch(`${listening.url}/b`)
    assert.strictEqual(await next.text(), "ok")
  })

  it("toNodeListener - a request whose caller reset the connection still has a source (on an embedder's server)", async () => {
    // Node reads the peer lazily and the kernel forgets it on reset: the request had no source,
    // and per-source quotas skip a request without one. `listen` reads it on accept; a server
    // built elsewhere gets a source no address can be, one budget for all such requests.
    const sources: Array<string | undefined> = []
    const server = createServer(
      NodeServer.toNodeListener(async (request) => {
        sources.push(RequestInput.source(request))
        return new Response("ok")
      }, "http://127.0.0.1"),
    )
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    closers.push(() => new Promise((resolve) => server.close(() => resolve())))
    const { port } = server.address() as AddressInfo
    for (let i = 0; i < 3; i++)
      await new Promise<void>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port }, () =>
          socket.write("GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", () => socket.resetAndDestroy()),
        )
        socket.on("close", () => resolve())
        socket.on("error", () => undefined)
      })
    const answer = await fetch(`http://127.0.0.1:${port}/x`)
    assert.strictEqual(await answer.text(), "ok")
    assert.strictEqual(sources.length, 4)
    for (const source of sources) assert.isDefined(source)
  })
})

/**
 * Tests of the Node listener over real HTTP on 127.0.0.1: what happens when the intercept hook
 * (the gateway's fast path) fails.
 *
 * @since 0.1.0
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
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
})

/**
 * The Express routes behind a reverse proxy: with `trustedProxies` naming the proxy, each client it
 * forwards for has its own per-source `/register` budget; a caller that is not a listed proxy is
 * its own source whatever `X-Forwarded-For` it sends. Real Express servers on 127.0.0.1, the
 * proxy over core's test layers with a budget of two registrations per source.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { TestProxy, TestUpstream } from "@oidc-proxy/core/testing"
import { Cause, Effect, Exit, ManagedRuntime } from "effect"
import express from "express"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { McpSdkProxy, McpSdkRouter } from "../src/index.ts"

const registration = JSON.stringify({
  client_name: "trusted proxies test",
  redirect_uris: ["http://127.0.0.1:9/callback"],
  token_endpoint_auth_method: "none",
})

/** An Express app on 127.0.0.1 serving `router`; its URL and a stop. */
const serve = async (router: express.RequestHandler) => {
  const app = express()
  app.use(router)
  const server: Server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

describe("McpSdkRouter trustedProxies", () => {
  let dispose: (() => Promise<void>) | undefined
  const servers: Array<{ url: string; stop: () => Promise<void> }> = []
  let behindProxy: string
  let direct: string

  beforeAll(async () => {
    const upstream = await Effect.runPromise(TestUpstream.make())
    const config = TestProxy.config(upstream, {
      issuer: "https://proxy.test",
      resource: "https://proxy.test/mcp",
      quotas: { registrations_per_source: 2 },
    })
    const rt = ManagedRuntime.make(TestProxy.layerFull(upstream, config))
    dispose = () => rt.dispose()
    // The test client connects from 127.0.0.1: the proxy for the first app, a stranger to the second.
    const trusting = await rt.runPromise(McpSdkProxy.make({ trustedProxies: "127.0.0.1, 10.0.0.0/8" }))
    const strict = await rt.runPromise(McpSdkRouter.make({ trustedProxies: "10.0.0.0/8" }))
    servers.push(await serve(trusting.router), await serve(strict))
    behindProxy = servers[0]!.url
    direct = servers[1]!.url
  }, 30_000)
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()))
    await dispose?.()
  })

  const register = async (base: string, forwardedFor: string) => {
    const res = await fetch(`${base}/register`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": forwardedFor },
      body: registration,
    })
    await res.body?.cancel()
    return res.status
  }

  it("two clients forwarded by a trusted proxy get separate /register budgets", async () => {
    // The right-most untrusted address counts; what a client wrote left of it does not.
    const ada = ["198.51.100.1", "203.0.113.9, 198.51.100.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"]
    assert.deepStrictEqual(
      [await register(behindProxy, ada[0]!), await register(behindProxy, ada[1]!)],
      [201, 201],
    )
    assert.strictEqual(await register(behindProxy, ada[2]!), 429)
    // Another client behind the same proxy still has its whole budget.
    assert.deepStrictEqual(
      [await register(behindProxy, "198.51.100.2"), await register(behindProxy, "198.51.100.2")],
      [201, 201],
    )
    assert.strictEqual(await register(behindProxy, "198.51.100.2"), 429)
    assert.strictEqual(await register(behindProxy, ada[3]!), 429)
  })

  it("a caller that is not a trusted proxy is its own source whatever X-Forwarded-For says", async () => {
    const statuses = []
    for (const forged of ["198.51.100.10", "198.51.100.11", "198.51.100.12"])
      statuses.push(await register(direct, forged))
    assert.deepStrictEqual(statuses, [201, 201, 429])
  })

  it("make - a list that does not parse is a defect naming the option", async () => {
    const upstream = await Effect.runPromise(TestUpstream.make())
    const rt = ManagedRuntime.make(TestProxy.layerFull(upstream, TestProxy.config(upstream)))
    try {
      for (const list of ["0.0.0.0/0", "10.0.0.1/8", "proxy.internal"]) {
        const exit = await rt.runPromiseExit(McpSdkRouter.make({ trustedProxies: list }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), list)
        assert.match(String(Cause.squash((exit as Exit.Failure<unknown, unknown>).cause)), /trustedProxies: /)
      }
    } finally {
      await rt.dispose()
    }
  })
})

/**
 * Evasions of the MCP policy through the `oidc-proxy` binary (a policy file, the fake IdP) in front
 * of the testbed's MCP server (the official SDK's Streamable HTTP transport), which records every
 * request it receives. A body the gateway and a server could read as two different things is
 * refused, and a list answer cannot be matched to another list method to escape the filter.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { McpServer } from "@oidc-proxy/testbed"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { gatewayEnv, signIn } from "./flows.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

/** `admin` is denied outright; everything else is allowed. */
const policy = `default: allow
rules:
  - { id: no-admin, effect: deny, tools: [admin] }
`

const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-evasion-"))
let idp: FakeIdp
const servers: Array<McpServer.RunningMcpServer> = []
const gateways: Array<GatewayProcess> = []

const start = async (jsonResponse: boolean) => {
  const mcp = await McpServer.startMcpServer({ tools: ["read", "admin"], jsonResponse })
  servers.push(mcp)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const gateway = await spawnGateway(
    url,
    gatewayEnv(url, mcp.url, idp, "memory", {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_POLICY: join(dir, "policy.yaml"),
    }),
  )
  gateways.push(gateway)
  const { access_token } = await signIn(url, idp)
  const post = (body: string) =>
    fetch(`${url}/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${access_token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body,
    })
  return { mcp, post }
}

beforeAll(async () => {
  writeFileSync(join(dir, "policy.yaml"), policy)
  idp = await startFakeIdp()
}, 30_000)

afterAll(async () => {
  await Promise.all(gateways.map((g) => g.stop()))
  await Promise.all(servers.map((s) => s.close()))
  await idp?.close()
  rmSync(dir, { recursive: true, force: true })
})

const call = (name: string) => ({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name } })

describe("bodies a server could read otherwise than the gateway", () => {
  it("a member named again in another letter case is refused (400) and never reaches the server", async () => {
    const { mcp, post } = await start(true)
    // A case-insensitive reader (Go's encoding/json) binds the last spelling: `tools/call` of admin.
    const bodies = [
      '{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call","params":{"name":"admin"}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","Name":"admin"}}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read"},"param\u017f":{"name":"admin"}}',
    ]
    const before = mcp.requests.length
    for (const body of bodies) {
      const res = await post(body)
      expect(res.status, body).toBe(400)
      expect(await res.json()).toMatchObject({ id: null, error: { code: -32600 } })
    }
    expect(mcp.requests.length).toBe(before)
    // The allowed call and the denied one, spelled plainly, are decided as before.
    expect(await (await post(JSON.stringify(call("read")))).json()).toMatchObject({ result: {} })
    expect(await (await post(JSON.stringify(call("admin")))).json()).toMatchObject({
      error: { code: -32001 },
    })
  })

  for (const jsonResponse of [true, false]) {
    it(`${jsonResponse ? "JSON" : "event-stream"} answers: a batch repeating a request id is refused unsent`, async () => {
      const { mcp, post } = await start(jsonResponse)
      const before = mcp.requests.length
      // Answers are matched to list requests by id: the tools answer would be checked as a resources one.
      const res = await post(
        JSON.stringify([
          { jsonrpc: "2.0", id: 1, method: "tools/list" },
          { jsonrpc: "2.0", id: 1, method: "resources/list" },
        ]),
      )
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ id: null, error: { code: -32600 } })
      expect(mcp.requests.length).toBe(before)
      // Distinct ids, 1 and "1" included, are listed and filtered as usual.
      const ok = await post(
        JSON.stringify([
          { jsonrpc: "2.0", id: 1, method: "tools/list" },
          { jsonrpc: "2.0", id: "1", method: "tools/list" },
        ]),
      )
      expect(ok.status).toBe(200)
      const text = await ok.text()
      expect(text).toContain('"read"')
      expect(text).not.toContain('"admin"')
    })
  }
})

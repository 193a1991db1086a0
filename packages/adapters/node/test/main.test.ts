/**
 * Tests of the `oidc-proxy` binary as a child process (the Node running vitest): `--help`, a bad
 * environment (exit 2), a misspelled variable (exit 2 with a suggestion), an unreachable upstream
 * (exit 1), a start with JSON logs and SIGTERM, and `oidc-proxy check` against the testbed's
 * local IdP and against a dead upstream port.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, assert, describe, it } from "@effect/vitest"
import { PostgresServer } from "@oidc-proxy/store-postgres/testing"
import { LocalIdp } from "@oidc-proxy/testbed"
import * as GatewayConfig from "../src/GatewayConfig.ts"
import { env } from "./fixtures.ts"

const bin = join(import.meta.dirname, "..", "bin", "oidc-proxy.mjs")

const children: Array<ChildProcess> = []
const cleanups: Array<() => void | Promise<void>> = []
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL")
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

interface Run {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  readonly exit: Promise<number | null>
}

/** Runs the binary with only `vars` (and PATH) in its environment; killed after the test. */
const run = (args: ReadonlyArray<string>, vars: Record<string, string> = {}): Run => {
  // process.execPath is the Node running vitest (Node 24), not the system one.
  const child = spawn(process.execPath, [bin, ...args], {
    env: { PATH: process.env.PATH ?? "", ...vars },
    stdio: ["ignore", "pipe", "pipe"],
  })
  children.push(child)
  let out = ""
  let err = ""
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()))
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()))
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, exit }
}

const waitFor = async (check: () => boolean, what: string, ms = 15_000) => {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** A minimal upstream IdP on 127.0.0.1: discovery and an empty JWKS (enough to start). */
const fakeIdp = async (): Promise<string> => {
  let issuer = ""
  const server: Server = createServer((req, res) => {
    res.setHeader("content-type", "application/json")
    if (req.url === "/.well-known/openid-configuration") {
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          code_challenge_methods_supported: ["S256"],
        }),
      )
    } else if (req.url === "/jwks") res.end('{"keys":[]}')
    else {
      res.statusCode = 404
      res.end("{}")
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  )
  return issuer
}

describe("oidc-proxy (CLI)", () => {
  it("--help - prints every variable with its default and exits 0", async () => {
    const { stdout, stderr, exit } = run(["--help"])
    assert.strictEqual(await exit, 0)
    assert.strictEqual(stderr(), "")
    assert.include(stdout(), "Usage: oidc-proxy")
    for (const variable of GatewayConfig.list) assert.include(stdout(), variable.name)
    assert.include(stdout(), "default: sqlite:./oidc-proxy.db")
    assert.include(stdout(), "default: /mcp")
  })

  it("bad environment - exits 2, naming each bad variable, without a stack trace or secret", async () => {
    const { stdout, stderr, exit } = run(
      [],
      env({
        OIDC_PROXY_CONSENT: "sometimes",
        OIDC_PROXY_SECRET: "short-secret-value",
        OIDC_PROXY_LISTEN: "x",
      }),
    )
    assert.strictEqual(await exit, 2)
    assert.strictEqual(stdout(), "")
    const lines = stderr().trim().split("\n")
    assert.deepStrictEqual(
      lines.map((l) => l.split(": ")[1]),
      ["OIDC_PROXY_LISTEN", "OIDC_PROXY_SECRET", "OIDC_PROXY_CONSENT", "see oidc-proxy --help"],
    )
    assert.notInclude(stderr(), "short-secret-value")
    assert.notInclude(stderr(), "    at ")
  })

  it("misspelled variable - exits 2 before serving, naming it and the closest known name", async () => {
    const { stdout, stderr, exit } = run(
      [],
      env({ OIDC_PROXY_REQUIRED_SCOPE: "admin", OIDC_PROXY_LISTEN: "127.0.0.1:0" }),
    )
    assert.strictEqual(await exit, 2)
    assert.strictEqual(stdout(), "")
    assert.strictEqual(
      stderr(),
      "oidc-proxy: OIDC_PROXY_REQUIRED_SCOPE: unknown variable; did you mean OIDC_PROXY_REQUIRED_SCOPES?\noidc-proxy: see oidc-proxy --help\n",
    )
  })

  it("unreachable upstream - exits 1 with one line, no stack trace", async () => {
    const { stderr, exit } = run(
      [],
      env({ OIDC_PROXY_UPSTREAM_ISSUER: "http://127.0.0.1:9", OIDC_PROXY_LISTEN: "127.0.0.1:0" }),
    )
    assert.strictEqual(await exit, 1)
    assert.match(stderr(), /^oidc-proxy: cannot start: .*discovery/)
    assert.strictEqual(stderr().trim().split("\n").length, 1)
  })

  it("start - prints the listening URL, logs JSON lines without query strings, exits 0 on SIGTERM", async () => {
    const issuer = await fakeIdp()
    const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-main-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const gateway = run(
      [],
      env({
        OIDC_PROXY_UPSTREAM_ISSUER: issuer,
        OIDC_PROXY_LISTEN: "127.0.0.1:0",
        OIDC_PROXY_STORE: `sqlite:${join(dir, "store.db")}`,
        OIDC_PROXY_SECRET: "",
        OIDC_PROXY_DEV: "true",
      }),
    )
    await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(gateway.stdout()), "the listening line")
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(gateway.stdout())![1]!
    // Dev mode without a secret warns once.
    assert.strictEqual(gateway.stdout().split("OIDC_PROXY_SECRET is not set").length - 1, 1)

    assert.strictEqual((await fetch(`${url}/healthz`)).status, 200)
    const ready = await fetch(`${url}/readyz`)
    assert.deepStrictEqual(await ready.json(), { status: "ready", checks: { store: "ok", upstream: "ok" } })
    const authorize = await fetch(`${url}/authorize?client_id=x&state=secret-state-value&code_challenge=c`, {
      redirect: "manual",
    })
    await authorize.text()
    await waitFor(() => gateway.stdout().includes('"path":"/authorize"'), "the access log line")
    const line = gateway
      .stdout()
      .split("\n")
      .find((l) => l.includes('"path":"/authorize"'))!
    const record = JSON.parse(line) as { message: unknown; annotations: Record<string, unknown> }
    assert.strictEqual(record.annotations["method"], "GET")
    assert.strictEqual(record.annotations["status"], authorize.status)
    assert.isString(record.annotations["request_id"])
    assert.isNumber(record.annotations["duration_ms"])
    assert.notInclude(gateway.stdout(), "secret-state-value")

    gateway.child.kill("SIGTERM")
    assert.strictEqual(await gateway.exit, 0)
  })
})

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
const deadPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Distinct secret values: none may appear in anything `check` prints. */
const secrets = {
  OIDC_PROXY_UPSTREAM_CLIENT_SECRET: "check-upstream-client-secret-0f3a9",
  OIDC_PROXY_SECRET: "check-master-secret-of-more-than-32-bytes-7c1d",
  OIDC_PROXY_PREVIOUS_SECRETS: "check-previous-secret-of-more-than-32-bytes-e5b2",
  OIDC_PROXY_REGISTRATION_TOKEN: "check-registration-token-91aa",
}

const assertNoSecret = (text: string) => {
  for (const value of Object.values(secrets)) assert.notInclude(text, value)
  assert.notInclude(text, "    at ")
}

describe("oidc-proxy check", () => {
  it("a working configuration - exit 0, the effective values with their sources, ok, no secret printed", async () => {
    const idp = await LocalIdp.startLocalIdp({
      quiet: true,
      client: { client_secret: secrets.OIDC_PROXY_UPSTREAM_CLIENT_SECRET },
    })
    cleanups.push(() => idp.close())
    const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-check-"))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const { stdout, stderr, exit } = run(
      ["check"],
      env({
        ...secrets,
        OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
        OIDC_PROXY_UPSTREAM_CLIENT_ID: idp.clients[0]!.client_id,
        OIDC_PROXY_STORE: `sqlite:${join(dir, "store.db")}`,
        OIDC_PROXY_CONSENT: "remember",
      }),
    )
    assert.strictEqual(await exit, 0, stderr())
    assert.strictEqual(stderr(), "")
    const out = stdout()
    assert.match(out, /OIDC_PROXY_CONSENT +remember {2}\[environment\]/)
    assert.match(out, /OIDC_PROXY_CODE_TTL +300 {2}\[default\]/)
    assert.match(out, /OIDC_PROXY_UPSTREAM_AUDIENCE +\(unset\) {2}\[unset\]/)
    assert.match(out, /OIDC_PROXY_SECRET +<redacted> {2}\[environment\]/)
    for (const variable of GatewayConfig.list) assert.include(out, `  ${variable.name} `)
    assert.match(
      out,
      /\nok: configuration decodes; upstream http:\/\/127\.0\.0\.1:\d+ discovered, JWKS has [1-9]\d* key\(s\); store sqlite opened and read\n/,
    )
    assertNoSecret(out)
  })

  it("a dead upstream, a bad store, unknown and bad variables - every problem at once, exit 2, no secret", async () => {
    const port = await deadPort()
    const { stdout, stderr, exit } = run(
      ["check"],
      env({
        ...secrets,
        OIDC_PROXY_UPSTREAM_ISSUER: `http://127.0.0.1:${port}`,
        OIDC_PROXY_STORE: `sqlite:${join(tmpdir(), "no-such-dir-oidc-proxy", "x", "store.db")}`,
        OIDC_PROXY_REQUIRED_SCOPE: "admin",
        OIDC_PROXY_CONSENT: "sometimes",
      }),
    )
    assert.strictEqual(await exit, 2)
    const lines = stderr().trimEnd().split("\n")
    assert.strictEqual(lines[0], "oidc-proxy check: 4 problem(s)")
    assert.deepStrictEqual(
      lines.slice(1).map((l) => l.trim().slice(0, l.trim().indexOf(":"))),
      ["OIDC_PROXY_REQUIRED_SCOPE", "OIDC_PROXY_CONSENT", "upstream", "store (sqlite)"],
    )
    assert.include(lines[1], "did you mean OIDC_PROXY_REQUIRED_SCOPES?")
    assert.include(lines[3], `http://127.0.0.1:${port}/.well-known/openid-configuration`)
    assert.notInclude(stdout(), "\nok:")
    assertNoSecret(stdout() + stderr())
  })

  it("only the upstream unreachable - exit 1, naming the discovery URL", async () => {
    const port = await deadPort()
    const { stdout, stderr, exit } = run(
      ["check"],
      env({ ...secrets, OIDC_PROXY_UPSTREAM_ISSUER: `http://127.0.0.1:${port}` }),
    )
    assert.strictEqual(await exit, 1)
    const lines = stderr().trimEnd().split("\n")
    assert.strictEqual(lines.length, 2)
    assert.match(
      lines[1]!,
      new RegExp(`^  upstream: .*http://127\\.0\\.0\\.1:${port}/\\.well-known/openid-configuration`),
    )
    assertNoSecret(stdout() + stderr())
  })
})

PostgresServer.describeWithPostgres("oidc-proxy with a Postgres store", (server) => {
  it("check - the URL's password masked, the store opened and read; a wrong password named by SQLSTATE, never printed", async () => {
    const idp = await LocalIdp.startLocalIdp({ quiet: true })
    cleanups.push(() => idp.close())
    const { url, password } = server()
    const vars = (store: string) =>
      env({
        ...secrets,
        OIDC_PROXY_UPSTREAM_ISSUER: idp.issuer,
        OIDC_PROXY_UPSTREAM_CLIENT_ID: idp.clients[0]!.client_id,
        OIDC_PROXY_STORE: store,
      })
    const good = run(["check"], vars(url))
    assert.strictEqual(await good.exit, 0, good.stderr())
    assert.match(
      good.stdout(),
      /OIDC_PROXY_STORE +postgres:\/\/oidc:\*\*\*@127\.0\.0\.1:\d+\/postgres {2}\[environment\]/,
    )
    assert.include(good.stdout(), "store postgres opened and read")
    const wrong = url.replace(password, "wrong-password-5150")
    const bad = run(["check"], vars(wrong))
    assert.strictEqual(await bad.exit, 1)
    assert.match(bad.stderr(), /\n {2}store \(postgres\): .*28P01/)
    const start = run([], vars(wrong))
    assert.strictEqual(await start.exit, 1)
    assert.match(start.stderr(), /^oidc-proxy: cannot start: .*28P01/)
    for (const text of [
      good.stdout(),
      good.stderr(),
      bad.stdout(),
      bad.stderr(),
      start.stdout(),
      start.stderr(),
    ]) {
      assert.notInclude(text, password)
      assert.notInclude(text, "wrong-password-5150")
      assertNoSecret(text)
    }
  }, 60_000)
})

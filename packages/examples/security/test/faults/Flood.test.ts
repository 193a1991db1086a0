/**
 * Fault: an unauthenticated flood (issue 20, finding 4). The `oidc-proxy` binary runs on the memory
 * store with its default quotas; a few thousand concurrent requests over 127.0.0.1 send the
 * largest registration the old limits accepted (10 redirect URIs of 2000 characters: ~27 KB a
 * record, kept a year), the largest one accepted now (just under 8 KiB), `/authorize` with a 12 KB
 * `state` and with the largest accepted `state`. Oversized requests get their precise error,
 * requests past a quota get 429 with `Retry-After`, and the process's resident memory (VmRSS in
 * /proc) grows by less than 32 MB. The gateway runs with its old space capped at 64 MB: garbage is
 * then collected before the heap grows (RSS follows what is kept), and what the flood makes it
 * keep must fit. Before the bounds this flood kept over 50 MB and the process died out of heap
 * (the test then fails naming the exit).
 */
import { existsSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { pkce } from "../support.ts"
import { clientRedirect, fakeIdpScenario, gatewayEnv, registerClient } from "./flows.ts"
import { freePort, spawnGateway } from "./processes.ts"

const perKind = 500
const concurrency = 24

const scenario = fakeIdpScenario()

const rssBytes = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  if (m === null) throw new Error("no VmRSS in /proc/<pid>/status")
  return Number(m[1]) * 1024
}

/** Runs `tasks` with at most `concurrency` in flight. */
const pool = async <A>(tasks: ReadonlyArray<() => Promise<A>>): Promise<Array<A>> => {
  const results: Array<A> = new Array(tasks.length)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) {
        const i = next++
        results[i] = await tasks[i]!()
      }
    }),
  )
  return results
}

type Answer = {
  readonly status: number
  readonly error?: string
  readonly description?: string
  readonly retryAfter?: string | null
}

const json = async (res: Response): Promise<Answer> => {
  const body = (await res.json()) as { error?: string; error_description?: string }
  return {
    status: res.status,
    ...(body.error === undefined ? {} : { error: body.error }),
    ...(body.error_description === undefined ? {} : { description: body.error_description }),
    retryAfter: res.headers.get("retry-after"),
  }
}

const register = (url: string, metadata: Record<string, unknown>) => async () =>
  json(
    await fetch(`${url}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(metadata),
    }),
  )

/**
 * An `/authorize` answer as error and description: a redirect to the client carries them in its
 * query, an error page in its text; 200 is the consent page.
 */
const authorize = (url: string, clientId: string, challenge: string, state: string) => async () => {
  const params = new URLSearchParams({
    client_id: clientId,
    redirect_uri: clientRedirect,
    response_type: "code",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  })
  const res = await fetch(`${url}/authorize?${params}`, { redirect: "manual" })
  const text = await res.text()
  if (res.status === 302) {
    const location = new URL(res.headers.get("location")!)
    return {
      status: 302,
      error: location.searchParams.get("error") ?? "",
      description: location.searchParams.get("error_description") ?? "",
      echoedState: location.searchParams.get("state"),
    }
  }
  return { status: res.status, text, retryAfter: res.headers.get("retry-after") }
}

describe.skipIf(!existsSync("/proc/self/status"))("a flood of unauthenticated requests", () => {
  it("is refused precisely, rate limited with 429 + Retry-After, and memory stays bounded", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    scenario.gateway = await spawnGateway(
      url,
      gatewayEnv(url, scenario.target.url, scenario.idp, "memory", {
        // A small old space makes V8 collect garbage before it grows the heap, so RSS follows
        // what is kept rather than what is waiting for a collection (and a leak ends in a crash).
        NODE_OPTIONS: "--max-old-space-size=64",
      }),
    )
    const pid = scenario.gateway.child.pid!
    const clientId = await registerClient(url)
    const { challenge } = await pkce()
    // Warm up: requests refused before anything is stored (and not counted by a quota) leave the
    // heap at its working size, so the baseline does not include startup garbage.
    const junk = { redirect_uris: ["javascript:x"], padding: "j".repeat(50_000) }
    await pool(Array.from({ length: 400 }, () => register(url, junk)))
    const before = rssBytes(pid)

    const longUri = (i: number) =>
      `${clientRedirect}/${String(i).padStart(1990 - clientRedirect.length, "x")}`
    const oldMaximal = {
      redirect_uris: Array.from({ length: 10 }, (_, i) => longUri(i)),
      token_endpoint_auth_method: "none",
      client_name: "n".repeat(512),
      scope: "s".repeat(2000),
    }
    const maximal = {
      redirect_uris: Array.from({ length: 3 }, (_, i) => longUri(i)),
      token_endpoint_auth_method: "none",
      client_name: "n".repeat(512),
      scope: "s".repeat(1500),
    }
    expect(JSON.stringify(maximal).length).toBeGreaterThan(7000)
    expect(JSON.stringify(maximal).length).toBeLessThanOrEqual(8192)
    const hugeState = "h".repeat(12 * 1024)
    const tasks: Array<
      () => Promise<{ readonly kind: string; readonly answer: Answer & Record<string, unknown> }>
    > = []
    for (let i = 0; i < perKind; i++) {
      for (let k = 0; k < 3; k++)
        tasks.push(async () => ({ kind: "old-maximal", answer: await register(url, oldMaximal)() }))
      tasks.push(async () => ({ kind: "maximal", answer: await register(url, maximal)() }))
      tasks.push(async () => ({
        kind: "huge-state",
        answer: await authorize(url, clientId, challenge, hugeState)(),
      }))
      tasks.push(async () => ({
        kind: "max-state",
        answer: await authorize(url, clientId, challenge, "m".repeat(1024))(),
      }))
    }
    const started = Date.now()
    const answers = await pool(tasks).catch(async (error: unknown) => {
      await new Promise((resolve) => setTimeout(resolve, 500))
      throw new Error(
        `the flood failed (${String(error)}); gateway exit: ${scenario.gateway?.child.exitCode ?? scenario.gateway?.child.signalCode}\n${scenario.gateway?.output().slice(-600)}`,
      )
    })
    const after = rssBytes(pid)
    // Quotas count in fixed windows (aligned to the epoch); a boundary during the flood resets them.
    const oneWindow = (seconds: number) =>
      Math.floor(started / (seconds * 1000)) === Math.floor(Date.now() / (seconds * 1000))

    const of = (kind: string) => answers.filter((a) => a.kind === kind).map((a) => a.answer)
    // Over the metadata limit: refused whatever the quota, naming the limit.
    for (const a of of("old-maximal")) {
      expect(a.status).toBe(400)
      expect(a.error).toBe("invalid_client_metadata")
      expect(a.description).toBe("the registration metadata must be at most 8192 bytes")
    }
    // Within the limits: the source's quota (100 an hour, one used above), then 429.
    const created = of("maximal").filter((a) => a.status === 201).length
    if (oneWindow(3600)) expect(created).toBe(99)
    else expect(created).toBeGreaterThanOrEqual(99)
    for (const a of of("maximal").filter((x) => x.status !== 201)) {
      expect(a.status).toBe(429)
      expect(a.error).toBe("temporarily_unavailable")
      expect(a.description).toMatch(/^Too many client registrations from this address; retry in \d+ seconds$/)
      expect(Number(a.retryAfter)).toBeGreaterThan(0)
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(3600)
    }
    // A 12 KB state: refused, naming the limit, the state not echoed; nothing stored, so never 429.
    for (const a of of("huge-state")) {
      if (a.status === 302) {
        expect(a.error).toBe("invalid_request")
        expect(a.description).toBe("state must be at most 1024 characters")
        expect(a["echoedState"]).toBeNull()
      } else {
        expect(a.status).toBe(400)
        expect(a["text"]).toContain("state must be at most 1024 characters")
      }
    }
    // A 1024-character state: the consent page (a pending sign-in) up to 300 per source per 10
    // minutes, then 429 with Retry-After.
    const consentPages = of("max-state").filter((a) => a.status === 200).length
    if (oneWindow(600)) expect(consentPages).toBe(300)
    else expect(consentPages).toBeGreaterThanOrEqual(300)
    for (const a of of("max-state").filter((x) => x.status !== 200)) {
      expect(a.status).toBe(429)
      expect(Number(a.retryAfter)).toBeGreaterThan(0)
      expect(Number(a.retryAfter)).toBeLessThanOrEqual(600)
      expect(a["text"]).toContain("Too many authorization requests from this address")
    }

    const grown = after - before
    expect(grown, `RSS grew by ${Math.round(grown / 2 ** 20)} MB`).toBeLessThan(32 * 2 ** 20)
    expect(scenario.gateway.output()).not.toMatch(/"level":"(ERROR|FATAL)"/i)
  }, 150_000)
})

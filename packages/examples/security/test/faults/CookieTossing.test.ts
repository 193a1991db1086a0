/**
 * Attack: cookie tossing against the running `oidc-proxy` binary with an https issuer and
 * `OIDC_PROXY_CONSENT=remember` (TLS ends in front of it; the binary listens on 127.0.0.1).
 *
 * The attacker (a sibling subdomain, or a network attacker answering a plain-http request to the
 * host) gets a browser id minted for itself, starts a sign-in with its own client, approves its
 * own consent page, then tosses its browser id and transaction cookie into the victim's browser
 * and lures the victim to the upstream authorization URL: the classic login-CSRF / confused-deputy
 * chain, ending with a code for the victim's identity at the attacker's redirect URI. What defends
 * it is that such an attacker cannot set a `__Host-` cookie; so every spelling it *can* set — the
 * unprefixed name, another case of the prefix, the prefix behind whitespace the browser does not
 * strip — must be ignored by the gateway, at the callback and for remembered consent. The
 * requests carry the `Cookie` header such a victim browser would send (raw bytes, over
 * `node:http`, so no client normalises them).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { request } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { pkce } from "../support.ts"
import { type FakeIdp, startFakeIdp } from "./FakeIdp.ts"
import { clientRedirect, gatewayEnv, registerClient, startTarget, type Target } from "./flows.ts"
import { freePort, type GatewayProcess, spawnGateway } from "./processes.ts"

let idp: FakeIdp
let target: Target
let gateway: GatewayProcess
let url: string
let issuer: string
const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-tossing-"))

beforeAll(async () => {
  idp = await startFakeIdp()
  target = await startTarget()
  const port = await freePort()
  url = `http://127.0.0.1:${port}`
  issuer = `https://localhost:${port}`
  gateway = await spawnGateway(
    url,
    gatewayEnv(issuer, target.url, idp, `sqlite:${join(dir, "gw.db")}`, {
      OIDC_PROXY_LISTEN: `127.0.0.1:${port}`,
      OIDC_PROXY_CONSENT: "remember",
    }),
  )
}, 30_000)

afterAll(async () => {
  await gateway?.stop("SIGKILL")
  await target?.close()
  await idp?.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Answer {
  readonly status: number
  readonly location: string | undefined
  readonly setCookies: ReadonlyArray<string>
  readonly body: string
}

/** One request to the gateway with exactly this `Cookie` header (latin1 bytes, as sent). */
const send = (path: string, cookie: string | undefined, form?: Record<string, string>): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const body = form === undefined ? undefined : new URLSearchParams(form).toString()
    const headers: Record<string, string> = {}
    if (cookie !== undefined) headers["cookie"] = cookie
    if (body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded"
    const req = request(`${url}${path}`, { method: body === undefined ? "GET" : "POST", headers }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => {
        text += c
      })
      res.on("end", () => {
        const location = res.headers.location
        resolve({
          status: res.statusCode ?? 0,
          location,
          setCookies: res.headers["set-cookie"] ?? [],
          body: text,
        })
      })
    })
    req.on("error", reject)
    req.end(body)
  })

/** `name=value` pairs of the `Set-Cookie` headers. */
const cookiesOf = (answer: Answer): Map<string, string> =>
  new Map(
    answer.setCookies.map((c) => {
      const pair = c.split(";")[0]!
      const i = pair.indexOf("=")
      return [pair.slice(0, i), pair.slice(i + 1)] as const
    }),
  )

const authorizePath = async (clientId: string) => {
  const { challenge } = await pkce()
  return `/authorize?${new URLSearchParams({
    client_id: clientId,
    redirect_uri: clientRedirect,
    response_type: "code",
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "attacker-state",
  })}`
}

const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]

/**
 * The attacker's own browser: `/authorize` with its client, its consent page approved. Its
 * browser id cookie and transaction cookie, and the gateway callback the IdP sends a browser to.
 */
const attackerSignIn = async (clientId: string) => {
  const started = await send(await authorizePath(clientId), undefined)
  expect(started.status, started.body).toBe(200)
  const set = cookiesOf(started)
  const browser = [...set].find(([name]) => name === "__Host-oidcp_browser")
  const tx = [...set].find(([name]) => name.startsWith("__Host-oidcp_tx_"))
  expect(browser, `https issuer, __Host- cookies: ${started.setCookies.join(" | ")}`).toBeDefined()
  expect(tx).toBeDefined()
  const own = `${browser![0]}=${browser![1]}; ${tx![0]}=${tx![1]}`
  const approved = await send("/consent", own, {
    transaction: hidden(started.body, "transaction") ?? "",
    csrf: hidden(started.body, "csrf") ?? "",
    decision: "approve",
  })
  expect(approved.status, approved.body).toBe(302)
  // The IdP (the victim is signed in there) answers the authorization request at once.
  const atIdp = await fetch(approved.location!, { redirect: "manual" })
  const callback = new URL(atIdp.headers.get("location")!)
  expect(callback.origin).toBe(issuer)
  return {
    browser: { name: browser![0], value: browser![1] },
    tx: { name: tx![0], value: tx![1] },
    callback: `${callback.pathname}${callback.search}`,
  }
}

/** Spellings of a `__Host-` name that a sibling subdomain or a plain-http response can set. */
const tossable = (name: string): ReadonlyArray<readonly [string, string]> => {
  const bare = name.replace(/^__Host-/, "")
  return [
    ["unprefixed", bare],
    ["upper-case prefix", `__HOST-${bare}`],
    ["lower-case prefix", `__host-${bare}`],
    // A raw 0xA0 byte: not whitespace to a browser (the prefix rule does not apply to the name),
    // but `String.prototype.trim` strips it. (Other control bytes are refused by Node's parser.)
    ["no-break space before the prefix", `\u00a0${name}`],
  ]
}

describe("attack: cookie tossing against an https issuer (the binary, SQLite, consent=remember)", () => {
  it("a tossed browser id and transaction cookie complete nothing at the callback; only the exact __Host- names do", async () => {
    const attacker = await attackerSignIn(await registerClient(url))
    const victimOwn = (await send(await authorizePath(await registerClient(url)), undefined)).setCookies
    const victimBrowser = cookiesOf({ status: 0, location: undefined, setCookies: victimOwn, body: "" }).get(
      "__Host-oidcp_browser",
    )!
    const tossedBrowser = tossable(attacker.browser.name)
    const tossedTx = tossable(attacker.tx.name)
    for (let i = 0; i < tossedBrowser.length; i++) {
      const [how, browserName] = tossedBrowser[i]!
      const txName = tossedTx[i]![1]
      // The victim's own browser id comes after the tossed ones (a longer Path sorts first).
      for (const cookie of [
        `${browserName}=${attacker.browser.value}; ${txName}=${attacker.tx.value}`,
        `${browserName}=${attacker.browser.value}; ${txName}=${attacker.tx.value}; __Host-oidcp_browser=${victimBrowser}`,
      ]) {
        const answer = await send(attacker.callback, cookie)
        expect(answer.location ?? "", `${how}: no code for the victim`).not.toContain("code=")
        expect(answer.status, `${how}: ${answer.body.slice(0, 200)}`).toBe(403)
      }
    }
    // Quoted or padded values are not the minted value either.
    for (const cookie of [
      `${attacker.browser.name}="${attacker.browser.value}"; ${attacker.tx.name}=${attacker.tx.value}`,
      `${attacker.browser.name}=${attacker.browser.value}; ${attacker.tx.name}="${attacker.tx.value}"`,
    ]) {
      expect((await send(attacker.callback, cookie)).status, cookie.slice(0, 40)).toBe(403)
    }
    // The attacker's own browser (the exact names, which only the gateway's host can set) completes
    // its sign-in: the refusals above are the cookie names, not a broken transaction.
    const own = await send(
      attacker.callback,
      `${attacker.browser.name}=${attacker.browser.value}; ${attacker.tx.name}=${attacker.tx.value}`,
    )
    expect(own.status, own.body).toBe(302)
    expect(own.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/client-callback\?code=/)
    expect(gateway.output()).not.toMatch(/"level":"(ERROR|FATAL)"/i)
  }, 30_000)

  it("a tossed browser id carries no remembered consent: the victim sees the consent page", async () => {
    const clientId = await registerClient(url)
    // The attacker consents once with remember: its browser id now skips the page for this client.
    const attacker = await attackerSignIn(clientId)
    const again = await send(
      await authorizePath(clientId),
      `${attacker.browser.name}=${attacker.browser.value}`,
    )
    expect(again.status, "the attacker's own browser skips consent (remembered)").toBe(302)
    for (const [how, name] of tossable(attacker.browser.name)) {
      const victim = await send(await authorizePath(clientId), `${name}=${attacker.browser.value}`)
      expect(victim.status, `${how}: consent is asked, not skipped`).toBe(200)
      expect(victim.body).toContain('name="csrf"')
      // And the victim gets a fresh id of its own, not the tossed one.
      expect(cookiesOf(victim).get("__Host-oidcp_browser")).not.toBe(attacker.browser.value)
    }
  }, 30_000)
})

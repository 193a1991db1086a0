/**
 * HeadlessBrowser against a small consent server of the kind the proxy will have: a CSRF token bound to a
 * cookie, Approve/Deny buttons, and a redirect to a redirect_uri nobody listens on.
 *
 * @since 0.1.0
 */
import { randomBytes } from "node:crypto"
import { createServer } from "node:http"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { firstOf, HeadlessBrowser, parseForms, pressButton } from "../src/HeadlessBrowser.ts"
import { close, listen } from "../src/internal/net.ts"

const redirectUri = "http://127.0.0.1:9/cb"

/** GET /authorize → 302 /consent (sets csrf cookie) → form; POST /consent checks cookie == field. */
const consentServer = async () => {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x")
    const cookies = Object.fromEntries(
      (req.headers.cookie ?? "")
        .split("; ")
        .filter(Boolean)
        .map((c) => c.split("=") as [string, string]),
    )
    if (url.pathname === "/authorize") {
      res.writeHead(302, { location: `/consent?client=${url.searchParams.get("client")}` }).end()
    } else if (url.pathname === "/consent" && req.method === "GET") {
      const csrf = randomBytes(8).toString("hex")
      res.writeHead(200, {
        "content-type": "text/html",
        "set-cookie": [`csrf=${csrf}; Path=/consent; HttpOnly; SameSite=Lax`, "other=1; Path=/elsewhere"],
      })
      res.end(`<!doctype html><h1>Allow &quot;${url.searchParams.get("client")}&quot;?</h1>
        <form id="search" action="/search"><input name="q" value="x"></form>
        <form method="post" action="/consent?step=decide">
          <input type="hidden" name="csrf" value="${csrf}">
          <input type="hidden" name="note" value="a&amp;b &#x2F; &#39;c&#39;">
          <input type="checkbox" name="remember" value="yes" checked>
          <input type="checkbox" name="unchecked" value="no">
          <select name="ttl"><option value="1h">1 hour</option><option value="1d" selected>1 day</option></select>
          <input type="text" name="disabled" value="d" disabled>
          <button type="submit" name="action" value="approve">Approve</button>
          <button type="submit" name="action" value="deny">Deny</button>
        </form>`)
    } else if (url.pathname === "/consent" && req.method === "POST") {
      let body = ""
      req.on("data", (chunk: Buffer) => {
        body += chunk.toString()
      })
      req.on("end", () => {
        const form = new URLSearchParams(body)
        if (form.get("csrf") !== cookies["csrf"] || cookies["other"] !== undefined) {
          res.writeHead(403, { "content-type": "text/html" }).end("<p>CSRF check failed</p>")
          return
        }
        const target = new URL(redirectUri)
        if (form.get("action") === "approve") {
          target.searchParams.set("code", "c0de")
          target.searchParams.set(
            "echo",
            `${form.get("note")}|${form.get("remember")}|${form.get("ttl")}|${form.has("unchecked")}|${form.has("disabled")}`,
          )
        } else target.searchParams.set("error", "access_denied")
        // 303 after POST: the browser must switch to GET.
        res.writeHead(303, { location: target.href }).end()
      })
    } else if (url.pathname === "/again") {
      res
        .writeHead(200, { "content-type": "text/html" })
        .end('<form action="/again"><button>Again</button></form>')
    } else if (url.pathname === "/loop") {
      res.writeHead(302, { location: "/loop" }).end()
    } else if (url.pathname === "/set") {
      res.writeHead(200, { "set-cookie": `who=${url.searchParams.get("v")}; Path=/` }).end()
    } else if (url.pathname === "/who") {
      res.end(cookies["who"] ?? "none")
    } else res.writeHead(404).end("<p>not here</p>")
  })
  const port = await listen(server, 0)
  return { origin: `http://127.0.0.1:${port}`, close: () => close(server) }
}

describe("HeadlessBrowser", () => {
  let a: Awaited<ReturnType<typeof consentServer>>
  let b: Awaited<ReturnType<typeof consentServer>>
  const stopAt = (url: URL) => url.href.startsWith(redirectUri)

  beforeAll(async () => {
    a = await consentServer()
    b = await consentServer()
  })
  afterAll(async () => {
    await a?.close()
    await b?.close()
  })

  it("parseForms - reads action, method, successful controls and submit buttons", () => {
    const forms = parseForms(
      `<form action="/x?y=1" method="POST"><input type=hidden name=h value='v&amp;w'><textarea name="t">hi &lt;3</textarea>
       <input type="image" name="img"><button type="button" name="b">B</button><input type="submit" name="go" value="Go"></form>
       <form><input name="empty"></form>`,
      new URL("http://127.0.0.1:1/page/1"),
    )
    assert.lengthOf(forms, 2)
    assert.strictEqual(forms[0]?.action.href, "http://127.0.0.1:1/x?y=1")
    assert.strictEqual(forms[0]?.method, "POST")
    assert.deepStrictEqual(forms[0]?.fields, [
      ["h", "v&w"],
      ["t", "hi <3"],
    ])
    assert.deepStrictEqual(
      forms[0]?.submitters.map((s) => [s.name, s.value]),
      [
        ["img", ""],
        ["go", "Go"],
      ],
    )
    assert.strictEqual(forms[1]?.action.href, "http://127.0.0.1:1/page/1")
    assert.strictEqual(forms[1]?.method, "GET")
  })

  it("drive - approves a CSRF-protected consent page with the chosen button and stops at the redirect_uri", async () => {
    const browser = new HeadlessBrowser()
    const url = await browser.drive(`${a.origin}/authorize?client=Claude`, {
      stopAt,
      onPage: pressButton("action", "approve"),
    })
    assert.strictEqual(url.searchParams.get("code"), "c0de")
    assert.strictEqual(url.searchParams.get("echo"), "a&b / 'c'|yes|1d|false|false")
    assert.deepStrictEqual(
      browser.transcript.map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status}`),
      ["GET /authorize 302", "GET /consent 200", "POST /consent 303"],
    )
    // The stop URL was reported, not fetched, and its code is redacted in the transcript.
    const location = browser.transcript.at(-1)?.location ?? ""
    assert.isTrue(location.startsWith(`${redirectUri}?code=***&`), location)
  })

  it("drive - the Deny button yields access_denied", async () => {
    const url = await new HeadlessBrowser().drive(`${a.origin}/authorize?client=x`, {
      stopAt,
      onPage: firstOf(() => undefined, pressButton("action", "deny")),
    })
    assert.strictEqual(url.searchParams.get("error"), "access_denied")
    assert.isNull(url.searchParams.get("code"))
  })

  it("submit - without the CSRF cookie (new browser) the server refuses", async () => {
    const first = await new HeadlessBrowser().navigate(`${a.origin}/consent?client=x`)
    assert.strictEqual(first._tag, "Page")
    if (first._tag !== "Page") return
    const other = await new HeadlessBrowser().submit(
      first.page,
      { form: 1, submitter: { name: "action", value: "approve" } },
      { stopAt },
    )
    assert.strictEqual(other._tag, "Page")
    if (other._tag === "Page") assert.strictEqual(other.page.status, 403)
  })

  it("submit - refuses a button the form does not have", async () => {
    const nav = await new HeadlessBrowser().navigate(`${a.origin}/consent?client=x`)
    if (nav._tag !== "Page") return assert.fail("expected a page")
    await new HeadlessBrowser()
      .submit(nav.page, { form: (f) => f.method === "POST", submitter: { name: "action", value: "maybe" } })
      .then(
        () => assert.fail("should not submit"),
        (error: Error) => assert.match(error.message, /no button action/),
      )
  })

  it("cookies - are kept per host:port and per path", async () => {
    const browser = new HeadlessBrowser()
    await browser.request(`${a.origin}/set?v=a`)
    await browser.request(`${b.origin}/set?v=b`)
    assert.strictEqual(await (await browser.request(`${a.origin}/who`)).text(), "a")
    assert.strictEqual(await (await browser.request(`${b.origin}/who`)).text(), "b")
    await browser.navigate(`${a.origin}/consent?client=x`)
    assert.deepStrictEqual(browser.cookies.names(`${a.origin}/consent`), ["csrf", "who"])
    assert.deepStrictEqual(browser.cookies.names(`${a.origin}/consentx`), ["who"])
    assert.deepStrictEqual(browser.cookies.names(`${a.origin}/elsewhere/deep`), ["other", "who"])
  })

  it("drive - fails with the page it got stuck on, and on redirect loops", async () => {
    const browser = new HeadlessBrowser({ maxRedirects: 5 })
    await browser.drive(`${a.origin}/nowhere`, { stopAt, onPage: () => undefined }).then(
      () => assert.fail("should not finish"),
      (error: Error) => assert.match(error.message, /no way forward from 404 .*\/nowhere: not here/),
    )
    await browser.navigate(`${a.origin}/loop`).then(
      () => assert.fail("should not finish"),
      (error: Error) => assert.match(error.message, /more than 5 redirects/),
    )
    let submissions = 0
    await browser
      .drive(`${a.origin}/again`, {
        stopAt,
        maxPages: 3,
        onPage: () => {
          submissions++
          return {}
        },
      })
      .then(
        () => assert.fail("should not finish"),
        (error: Error) => assert.match(error.message, /after 3 submissions, at .*\/again/),
      )
    assert.strictEqual(submissions, 3)
  })
})

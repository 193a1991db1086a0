/**
 * The consent page in a real browser (Debian's Chromium, driven by playwright-core): what it shows,
 * that it cannot be framed, that Deny sends access_denied to the client, and that Approve leads
 * through the IdP back to the client with a code. Saves a screenshot to test-results/.
 *
 * Without Chromium installed the suite is skipped with a message locally; in CI it fails.
 */
import { existsSync, mkdirSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { type Browser, chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Harness from "../src/Harness.ts"

const executablePath = "/usr/bin/chromium"
const available = existsSync(executablePath)
if (!available) {
  if (process.env.CI) throw new Error(`Chromium is required in CI (${executablePath}); .ci/run installs it`)
  console.warn(`[consent page] skipped: ${executablePath} not found (apt-get install -y chromium)`)
}

const redirectUri = "http://127.0.0.1:9/client-callback"

describe.skipIf(!available)("consent page in Chromium", () => {
  let h: Harness.Harness
  let browser: Browser
  let framer: Server
  let framerUrl = ""

  beforeAll(async () => {
    h = await Harness.start()
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    })
    framer = createServer((req, res) => {
      const target = new URL(req.url ?? "/", "http://x").searchParams.get("target") ?? ""
      res.writeHead(200, { "content-type": "text/html" })
      res.end(
        `<!doctype html><iframe id="f" src="${target.replace(/"/g, "&quot;")}" width="600" height="400"></iframe>`,
      )
    })
    await new Promise<void>((resolve) => framer.listen(0, "127.0.0.1", resolve))
    framerUrl = `http://localhost:${(framer.address() as AddressInfo).port}`
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await new Promise<void>((resolve) => (framer ? framer.close(() => resolve()) : resolve()))
    await h?.close()
  })

  const authorizeUrl = async () => {
    const reg = await fetch(`${h.proxyUrl}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "Chromium Test Client",
        redirect_uris: [redirectUri],
        token_endpoint_auth_method: "none",
      }),
    })
    const { client_id } = (await reg.json()) as { client_id: string }
    const url = new URL(`${h.proxyUrl}/authorize`)
    url.search = new URLSearchParams({
      response_type: "code",
      client_id,
      redirect_uri: redirectUri,
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
      state: "st-123",
      scope: "openid mcp:read",
    }).toString()
    return url.href
  }

  it("shows the client, the redirect host and the scopes, with anti-framing headers", async () => {
    const page = await browser.newPage()
    const response = await page.goto(await authorizeUrl())
    expect(response?.status()).toBe(200)
    expect(response?.headers()["x-frame-options"]).toBe("DENY")
    expect(response?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'")
    await expect(page.locator("h1").textContent()).resolves.toContain("Chromium Test Client")
    await expect(page.locator("#redirect-host").textContent()).resolves.toBe("127.0.0.1:9")
    const scopes = await page.locator("#scopes li").allTextContents()
    expect(scopes).toEqual(["mcp:read", "openid"])
    mkdirSync(join(import.meta.dirname, "..", "test-results"), { recursive: true })
    await page.screenshot({
      path: join(import.meta.dirname, "..", "test-results", "consent-page.png"),
      fullPage: true,
    })
    await page.close()
  }, 30_000)

  it("cannot be shown inside a frame of another origin", async () => {
    const page = await browser.newPage()
    const consent = await authorizeUrl()
    const blocked = page.waitForEvent("console", { timeout: 5_000 }).catch(() => undefined)
    await page.goto(`${framerUrl}/?target=${encodeURIComponent(consent)}`)
    await blocked
    const frame = page.frames().find((f) => f !== page.mainFrame())
    const text =
      frame === undefined
        ? ""
        : await frame
            .locator("body")
            .textContent({ timeout: 2_000 })
            .catch(() => "")
    expect(text ?? "").not.toContain("Approve")
    await page.close()
  }, 30_000)

  it("Deny sends access_denied with state and iss to the client", async () => {
    const page = await browser.newPage()
    await page.goto(await authorizeUrl())
    const redirected = page.waitForRequest((r) => r.url().startsWith(redirectUri))
    await page.click("button[value=deny]")
    const url = new URL((await redirected).url())
    expect(url.searchParams.get("error")).toBe("access_denied")
    expect(url.searchParams.get("state")).toBe("st-123")
    expect(url.searchParams.get("iss")).toBe(h.proxyUrl)
    await page.close()
  }, 30_000)

  it("Approve leads through the IdP login back to the client with a code", async () => {
    const page = await browser.newPage()
    await page.goto(await authorizeUrl())
    await page.click("button[value=approve]")
    await page.waitForURL((u) => u.href.startsWith(h.idp.issuer), { timeout: 10_000 })
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "any")
    await page.click("button[type=submit]")
    const redirected = page.waitForRequest((r) => r.url().startsWith(redirectUri), { timeout: 10_000 })
    // oidc-provider's dev consent page, then the proxy's callback redirects to the client.
    await page.click("button[type=submit]").catch(() => {})
    const url = new URL((await redirected).url())
    expect(url.searchParams.get("code")).toBeTruthy()
    expect(url.searchParams.get("state")).toBe("st-123")
    expect(url.searchParams.get("iss")).toBe(h.proxyUrl)
    await page.close()
  }, 30_000)
})

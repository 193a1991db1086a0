/**
 * A tiny cookie-jar HTTP "browser" over `fetch` for driving login and consent pages in tests.
 *
 * Testing adapter; depends only on `fetch`. It follows redirects itself (`redirect: "manual"`) so it can stop
 * at a URL that nobody listens on (a client's loopback redirect_uri, RFC 8252 §7.3) and hand that URL back.
 * It keeps cookies per host:port (stricter than browsers, which share cookies across ports, so a proxy and
 * an IdP both on 127.0.0.1 cannot clobber each other's cookies), parses HTML forms and submits them with
 * hidden inputs, typed fields and a chosen submit button. Every request is recorded in a transcript.
 *
 * @since 0.1.0
 */

import { CookieJar } from "./internal/cookies.ts"
import { type FormSubmission, type HtmlForm, parseForms, serializeForm } from "./internal/forms.ts"
import { type TranscriptEntry, transcriptEntry } from "./Transcript.ts"

export type { FormSubmission, HtmlForm, Submitter } from "./internal/forms.ts"
export { CookieJar, parseForms }

/**
 * One HTML response the browser landed on (anything that is not a redirect).
 *
 * @category models
 * @since 0.1.0
 */
export interface Page {
  readonly url: URL
  readonly status: number
  readonly headers: Headers
  readonly body: string
  readonly forms: ReadonlyArray<HtmlForm>
}

/**
 * Where a navigation ended: on a page, or at a redirect whose target matched `stopAt` (not fetched).
 *
 * @category models
 * @since 0.1.0
 */
export type Navigation =
  | { readonly _tag: "Page"; readonly page: Page }
  | { readonly _tag: "Stopped"; readonly url: URL }

/**
 * Decides what to do on a page: a form submission, or `undefined` when it does not know the page.
 *
 * @category models
 * @since 0.1.0
 */
export type PageHandler = (page: Page) => FormSubmission | undefined | Promise<FormSubmission | undefined>

/**
 * @category models
 * @since 0.1.0
 */
export interface HeadlessBrowserOptions {
  /** Defaults to the global `fetch`. */
  readonly fetch?: typeof fetch
  /** Shared transcript array to append to; a fresh one by default. */
  readonly transcript?: TranscriptEntry[]
  /** Maximum redirects per navigation; default 20. */
  readonly maxRedirects?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface NavigateOptions {
  /** Checked before each request, including the first; a match ends the navigation without fetching. */
  readonly stopAt?: (url: URL) => boolean
}

/**
 * The browser: a cookie jar, a transcript, and navigation that follows redirects by hand.
 *
 * @category constructors
 * @since 0.1.0
 */
export class HeadlessBrowser {
  readonly cookies = new CookieJar()
  readonly transcript: TranscriptEntry[]
  readonly #fetch: typeof fetch
  readonly #maxRedirects: number

  constructor(options: HeadlessBrowserOptions = {}) {
    this.#fetch = options.fetch ?? globalThis.fetch
    this.transcript = options.transcript ?? []
    this.#maxRedirects = options.maxRedirects ?? 20
  }

  /**
   * One request with cookies and a transcript entry, no redirect following. Useful for asserting on a
   * redirect or a header directly.
   */
  async request(url: URL | string, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url)
    const headers = new Headers(init.headers)
    const cookie = this.cookies.header(target)
    if (cookie !== undefined) headers.set("cookie", cookie)
    if (!headers.has("accept")) headers.set("accept", "text/html,application/json;q=0.9,*/*;q=0.8")
    const response = await this.#fetch(target, { ...init, headers, redirect: "manual" })
    this.cookies.store(target, response.headers.getSetCookie())
    this.transcript.push(transcriptEntry("browser", init.method ?? "GET", target, response))
    return response
  }

  /** GETs `url` and follows redirects until a page or a `stopAt` match. */
  navigate(url: URL | string, options: NavigateOptions = {}): Promise<Navigation> {
    return this.#follow(new URL(url), { method: "GET" }, options)
  }

  /** Submits a form of `page` (see {@link FormSubmission}) and follows redirects. */
  async submit(
    page: Page,
    submission: FormSubmission = {},
    options: NavigateOptions = {},
  ): Promise<Navigation> {
    const { url, init } = serializeForm(page.forms, submission, page.url)
    return this.#follow(url, init, options)
  }

  /**
   * Drives a whole interaction: navigates to `url`, lets `onPage` pick a form on every page, and returns the
   * URL that matched `stopAt` (for example the client's redirect_uri carrying `code` and `state`).
   *
   * Fails when a page has no handler, or after `maxPages` pages (default 10), naming the page and a short,
   * tag-free excerpt of it.
   */
  async drive(
    url: URL | string,
    options: {
      readonly stopAt: (url: URL) => boolean
      readonly onPage: PageHandler
      readonly maxPages?: number
    },
  ): Promise<URL> {
    let navigation = await this.navigate(url, options)
    for (let pages = 1; navigation._tag === "Page"; pages++) {
      const { page } = navigation
      if (pages > (options.maxPages ?? 10)) {
        throw new Error(
          `HeadlessBrowser: still on pages after ${pages - 1} submissions, at ${page.url.origin}${page.url.pathname}`,
        )
      }
      const submission = await options.onPage(page)
      if (submission === undefined) {
        throw new Error(
          `HeadlessBrowser: no way forward from ${page.status} ${page.url.origin}${page.url.pathname}: ${excerpt(page.body)}`,
        )
      }
      navigation = await this.submit(page, submission, options)
    }
    return navigation.url
  }

  async #follow(start: URL, init: RequestInit, options: NavigateOptions): Promise<Navigation> {
    let url = start
    let request = init
    for (let hops = 0; hops <= this.#maxRedirects; hops++) {
      if (options.stopAt?.(url)) return { _tag: "Stopped", url }
      const response = await this.request(url, request)
      const location = response.headers.get("location")
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel()
        url = new URL(location, url)
        // 307/308 repeat the request as it was; 301/302/303 turn into a GET, as browsers do.
        if (response.status !== 307 && response.status !== 308) request = { method: "GET" }
        continue
      }
      const body = await response.text()
      return {
        _tag: "Page",
        page: { url, status: response.status, headers: response.headers, body, forms: parseForms(body, url) },
      }
    }
    throw new Error(`HeadlessBrowser: more than ${this.#maxRedirects} redirects starting at ${start.origin}`)
  }
}

/**
 * Handles oidc-provider's dev interaction pages: fills the login form (any login is accepted and becomes
 * the account id) and confirms the consent form.
 *
 * @category constructors
 * @since 0.1.0
 */
export const oidcProviderDevInteractions =
  (options: { readonly login: string; readonly password?: string }): PageHandler =>
  (page) => {
    const prompt = page.forms.find((form) => form.fields.some(([name]) => name === "prompt"))
    const value = prompt?.fields.find(([name]) => name === "prompt")?.[1]
    if (prompt === undefined || page.status !== 200) return undefined
    if (value === "login") {
      return { form: prompt, fields: { login: options.login, password: options.password ?? "any-password" } }
    }
    return value === "consent" ? { form: prompt } : undefined
  }

/**
 * Handles a consent page of another server: submits the first form that has a submit button named `name`
 * with value `value` (for example `action=approve`), keeping its hidden inputs such as a CSRF token.
 *
 * @category constructors
 * @since 0.1.0
 */
export const pressButton =
  (name: string, value: string): PageHandler =>
  (page) => {
    const form = page.forms.find((f) => f.submitters.some((s) => s.name === name && s.value === value))
    return form === undefined ? undefined : { form, submitter: { name, value } }
  }

/**
 * Tries handlers in order and uses the first answer, so one drive can cross a proxy's consent page and an
 * IdP's login pages.
 *
 * @category constructors
 * @since 0.1.0
 */
export const firstOf =
  (...handlers: ReadonlyArray<PageHandler>): PageHandler =>
  async (page) => {
    for (const handler of handlers) {
      const submission = await handler(page)
      if (submission !== undefined) return submission
    }
    return undefined
  }

/**
 * The proxy's consent page approved (`decision=approve`), then oidc-provider's dev login as `login`
 * and its consent: a whole sign-in through a gateway in front of the testbed's LocalIdp.
 *
 * @category constructors
 * @since 0.1.0
 */
export const approveAs = (login: string): PageHandler =>
  firstOf(pressButton("decision", "approve"), oidcProviderDevInteractions({ login }))

const excerpt = (html: string): string =>
  html
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim()
    .slice(0, 300)

/**
 * The live values the large fuzz aims at, obtained through the gateway binary against the fake
 * IdP: session A (its bearer is the only one allowed to reach the target; never sent to /token or
 * /revoke, so nothing in the run may invalidate it), session B and a confidential client (their
 * values go everywhere), and short-lived ones renewed during the run: a consent transaction with
 * its cookies, an upstream callback state, an unredeemed code.
 *
 * Script support (`npm run fuzz`). Requests go to 127.0.0.1 only.
 */
import type { FakeIdp } from "../../test/faults/FakeIdp.ts"
import {
  authorizeQuery,
  backFromIdp,
  bearer,
  type ClientTokens,
  masterSecret,
  register,
  registerClient,
  signIn,
  type Target,
  toIdp,
} from "../../test/faults/flows.ts"
import { consentForm, cookiesFrom } from "../../test/support.ts"

/** A consent page's form and cookies, not yet posted. */
export interface Consent {
  readonly transaction: string
  readonly csrf: string
  readonly jar: Record<string, string>
}

/** An approved consent on its way back: the upstream `state` and the browser's cookies. */
export interface Callback {
  readonly state: string
  readonly cookie: string
}

/** A code issued to `client_id` and not yet redeemed, with its PKCE verifier. */
export interface Code {
  readonly code: string
  readonly verifier: string
  readonly client_id: string
}

export interface Fixtures {
  readonly a: ClientTokens
  readonly b: ClientTokens
  readonly confidential: { readonly client_id: string; readonly client_secret: string }
  consent: Consent
  callback: Callback
  code: Code
  /** Every value no answer may contain. */
  readonly secrets: ReadonlyArray<string>
}

/** `GET /authorize` for a fresh client: the consent page's form and cookies. */
const consentOf = async (url: string): Promise<Consent> => {
  const client_id = await registerClient(url)
  const { query } = await authorizeQuery(client_id)
  const page = await fetch(`${url}/authorize?${query}`, { redirect: "manual" })
  const form = consentForm(await page.text())
  return { ...form, jar: cookiesFrom(page.headers) }
}

/** Up to the IdP: the `state` the callback expects and the cookies the browser holds for it. */
const callbackOf = async (url: string, idp: FakeIdp): Promise<Callback> => {
  const at = await toIdp(url, idp)
  const state = at.atIdp.searchParams.get("state") ?? ""
  const cookie = at.browser.cookies.header(new URL(`${url}/auth/callback`)) ?? ""
  return { state, cookie }
}

const codeOf = async (url: string, idp: FakeIdp): Promise<Code> => {
  const at = await toIdp(url, idp)
  const back = await backFromIdp(at)
  return { code: back.searchParams.get("code") ?? "", verifier: at.verifier, client_id: at.client_id }
}

/**
 * Signs in twice, registers a confidential client, opens the short-lived values, and reads the
 * upstream access tokens behind A and B off the target (`X-Forwarded-Access-Token`).
 */
export const prepare = async (url: string, idp: FakeIdp, target: Target): Promise<Fixtures> => {
  const a = await signIn(url, idp)
  const b = await signIn(url, idp)
  const confidential = await register(url, "client_secret_basic")
  for (const t of [a, b]) await bearer(url, t.access_token)
  const upstream = target.seen
    .map((s) => s.headers["x-forwarded-access-token"])
    .filter((t): t is string => typeof t === "string")
  if (upstream.length < 2) throw new Error("the target saw no upstream access token")
  return {
    a,
    b,
    confidential: { client_id: confidential.client_id, client_secret: confidential.client_secret ?? "" },
    consent: await consentOf(url),
    callback: await callbackOf(url, idp),
    code: await codeOf(url, idp),
    secrets: [
      a.access_token,
      a.refresh_token,
      b.access_token,
      b.refresh_token,
      confidential.client_secret ?? "",
      idp.clientSecret,
      masterSecret,
      ...new Set(upstream),
    ].filter((s) => s.length >= 8),
  }
}

/** Renews the short-lived values (transactions and codes expire) in place. */
export const renew = async (url: string, idp: FakeIdp, fixtures: Fixtures): Promise<void> => {
  fixtures.consent = await consentOf(url)
  fixtures.callback = await callbackOf(url, idp)
  fixtures.code = await codeOf(url, idp)
}

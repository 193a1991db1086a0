/**
 * Synchronous HS256 compact JWTs over an injected HMAC (e.g. `node:crypto`), for the proxy's own
 * access tokens.
 *
 * Strict accept, never lenient: a token is accepted here only in the exact shape the proxy issues
 * (header exactly `{"alg":"HS256","typ":"at+jwt"}`, canonical base64url, UTF-8 claims with `iss`,
 * `aud`, numeric `exp`/`iat`/`nbf` inside the leeway) and with a verifying signature. A forged
 * signature on that shape is refused here; anything else is `defer`, and the caller asks the jose
 * implementation for the verdict — so every refusal carries exactly the reason and description
 * the jose path gives, and nothing jose refuses is accepted here.
 */
import { parseObject as parseJsonObject } from "./jsonObject.ts"

/** The HMAC-SHA-256 operations a runtime provides synchronously. */
export interface HmacSha256 {
  /** The base64url (unpadded) HMAC-SHA-256 of an ASCII string. */
  readonly sign: (data: string) => string
  /** Whether `signature` (base64url) is the HMAC of `data`, compared in constant time. */
  readonly verify: (data: string, signature: string) => boolean
  /** base64url → UTF-8 text (invalid sequences become U+FFFD). */
  readonly decode: (segment: string) => string
  /** UTF-8 text → base64url (unpadded). */
  readonly encode: (text: string) => string
}

export interface Expect {
  readonly issuer: string
  readonly audience: string
  readonly typ: string
  readonly tolerance: number
}

export type Outcome =
  | { readonly _tag: "ok"; readonly payload: Record<string, unknown> }
  | { readonly _tag: "signature" }
  | { readonly _tag: "defer" }

const defer: Outcome = { _tag: "defer" }
const badSignature: Outcome = { _tag: "signature" }
const segment = /^[A-Za-z0-9_-]+$/
/** 32 bytes of HMAC-SHA-256 are 43 base64url characters. */
const signatureLength = 43

/** A segment that decoded to U+FFFD was not UTF-8: refused before parsing. */
const parseObject = (text: string): Record<string, unknown> | undefined =>
  text.includes("\uFFFD") ? undefined : parseJsonObject(text)

/** What `text` decodes to, when it is the unpadded base64url `encode` gives for that. */
const canonicalText = (text: string, hmac: HmacSha256): string | undefined => {
  if (text.length % 4 === 1) return undefined
  const decoded = hmac.decode(text)
  return hmac.encode(decoded) === text ? decoded : undefined
}

/** The header segment of every token the proxy signs (see `sign`), per HMAC implementation. */
const issuedHeaders = new WeakMap<HmacSha256, string>()
const issuedHeader = (hmac: HmacSha256, typ: string): string | undefined => {
  if (typ !== header.typ) return undefined
  let h = issuedHeaders.get(hmac)
  if (h === undefined) {
    h = hmac.encode(JSON.stringify(header))
    issuedHeaders.set(hmac, h)
  }
  return h
}

const optionalNumber = (value: unknown) => value === undefined || typeof value === "number"

/** Verifies `token` at `now` (seconds). */
export const verify = (token: string, hmac: HmacSha256, expect: Expect, now: number): Outcome => {
  const first = token.indexOf(".")
  const second = first < 0 ? -1 : token.indexOf(".", first + 1)
  if (second < 0 || token.indexOf(".", second + 1) !== -1) return defer
  const h = token.slice(0, first)
  const p = token.slice(first + 1, second)
  const s = token.slice(second + 1)
  if (s.length !== signatureLength || !segment.test(p) || !segment.test(s)) return defer
  // The header the proxy writes passes every header check below; any other spelling is checked.
  if (h !== issuedHeader(hmac, expect.typ)) {
    if (!segment.test(h)) return defer
    // Canonical base64url only: a lenient decoder reads `<header>X` (length ≡ 1 mod 4) as the same
    // header, where jose refuses it as malformed — found by the random-corruption test.
    const headerText = canonicalText(h, hmac)
    const decoded = headerText === undefined ? undefined : parseObject(headerText)
    if (decoded === undefined || decoded["alg"] !== "HS256" || decoded["typ"] !== expect.typ) return defer
    if (Object.keys(decoded).length !== 2) return defer
  }
  const payloadText = canonicalText(p, hmac)
  if (payloadText === undefined) return defer
  if (!hmac.verify(token.slice(0, second), s)) return badSignature
  const payload = parseObject(payloadText)
  if (payload === undefined || payload["iss"] !== expect.issuer) return defer
  const aud = payload["aud"]
  if (
    !(
      aud === expect.audience ||
      (Array.isArray(aud) && aud.every((a) => typeof a === "string") && aud.includes(expect.audience))
    )
  )
    return defer
  const { exp, nbf, iat } = payload
  if (typeof exp !== "number" || !optionalNumber(nbf) || !optionalNumber(iat)) return defer
  if (!Number.isFinite(exp) || exp <= now - expect.tolerance) return defer
  if (typeof nbf === "number" && !(nbf <= now + expect.tolerance)) return defer
  return { _tag: "ok", payload }
}

const header = { alg: "HS256", typ: "at+jwt" }

/** Signs `claims` as `{"alg":"HS256","typ":"at+jwt"}` — the bytes jose's `SignJWT` produces. */
export const sign = (claims: Readonly<Record<string, unknown>>, hmac: HmacSha256): string => {
  const input = `${hmac.encode(JSON.stringify(header))}.${hmac.encode(JSON.stringify(claims))}`
  return `${input}.${hmac.sign(input)}`
}

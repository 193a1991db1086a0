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

const parseObject = (text: string): Record<string, unknown> | undefined => {
  if (text.includes("\uFFFD")) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** Whether `text` is the unpadded base64url `encode` gives for what it decodes to. */
const canonical = (text: string, hmac: HmacSha256): boolean =>
  text.length % 4 !== 1 && hmac.encode(hmac.decode(text)) === text

const optionalNumber = (value: unknown) => value === undefined || typeof value === "number"

/** Verifies `token` at `now` (seconds). */
export const verify = (token: string, hmac: HmacSha256, expect: Expect, now: number): Outcome => {
  const first = token.indexOf(".")
  const second = first < 0 ? -1 : token.indexOf(".", first + 1)
  if (second < 0 || token.indexOf(".", second + 1) !== -1) return defer
  const h = token.slice(0, first)
  const p = token.slice(first + 1, second)
  const s = token.slice(second + 1)
  if (s.length !== signatureLength || !segment.test(h) || !segment.test(p) || !segment.test(s)) return defer
  // Canonical base64url only: a lenient decoder reads `<header>X` (length ≡ 1 mod 4) as the same
  // header, where jose refuses it as malformed — found by the random-corruption test.
  if (!canonical(h, hmac) || !canonical(p, hmac)) return defer
  const header = parseObject(hmac.decode(h))
  if (header === undefined || header["alg"] !== "HS256" || header["typ"] !== expect.typ) return defer
  if (Object.keys(header).length !== 2) return defer
  if (!hmac.verify(token.slice(0, second), s)) return badSignature
  const payload = parseObject(hmac.decode(p))
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

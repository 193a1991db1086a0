/**
 * Synchronous verification of upstream compact JWTs (RS256, PS256, ES256, EdDSA) over key
 * operations a runtime injects (e.g. `node:crypto` with cached `KeyObject`s).
 *
 * Strict accept, never lenient — the approach of `compactHs256`: a token is accepted here only in
 * a plain shape (three canonical base64url segments, a header of `alg` and optionally `kid`/`typ`,
 * exactly one usable key in the set chosen by jose's own rules, a strict-UTF-8 JSON claims object
 * with `iss`, the expected `aud`, a numeric `exp` and in-leeway `exp`/`nbf`) with a verifying
 * signature. Anything else, a bad signature included, is `defer`: the caller asks jose, so every
 * refusal carries exactly jose's reason and nothing jose refuses is accepted here.
 */
import type { JSONWebKeySet, JWK } from "jose"
import { parseObject } from "./jsonObject.ts"

/** Verifies a signature (base64url segment) over the ASCII signing input. */
export type SignatureCheck = (signingInput: string, signature: string) => boolean

/** The key operations a runtime provides synchronously. */
export interface JwsKeys {
  /**
   * A signature check for the public `jwk` under `alg`, or `undefined` when this runtime cannot
   * (jose decides). Implementations cache per JWK object.
   */
  readonly keyFor: (jwk: JWK, alg: SupportedAlgorithm) => SignatureCheck | undefined
  /** base64url → UTF-8 text; `undefined` unless the segment is canonical and the text strict UTF-8. */
  readonly decode: (segment: string) => string | undefined
}

export type SupportedAlgorithm = "RS256" | "PS256" | "ES256" | "EdDSA"

const entries: Record<SupportedAlgorithm, { readonly kty: string; readonly crv?: string }> = {
  RS256: { kty: "RSA" },
  PS256: { kty: "RSA" },
  ES256: { kty: "EC", crv: "P-256" },
  EdDSA: { kty: "OKP", crv: "Ed25519" },
}

export interface Expect {
  readonly issuer: string
  readonly audience?: string | undefined
  readonly algorithms: ReadonlyArray<string>
  readonly tolerance: number
}

export type Outcome =
  | { readonly _tag: "ok"; readonly payload: Record<string, unknown>; readonly jwk: JWK }
  | { readonly _tag: "defer" }

const defer: Outcome = { _tag: "defer" }
const headerMembers = new Set(["alg", "kid", "typ"])
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"]

/** jose's `isUsableJWK` (jwks/local.js) for the supported algorithms. */
const usable = (jwk: JWK, alg: SupportedAlgorithm, kid: string | undefined): boolean => {
  const entry = entries[alg]
  const ops = jwk.key_ops as unknown
  return (
    (jwk.ext === undefined || typeof jwk.ext === "boolean") &&
    (ops === undefined ||
      (Array.isArray(ops) &&
        ops.every((op, i) => typeof op === "string" && ops.indexOf(op) === i) &&
        ops.includes("verify"))) &&
    jwk.kty === entry.kty &&
    (kid === undefined || kid === jwk.kid) &&
    (jwk.alg === undefined || jwk.alg === alg) &&
    (jwk.use === undefined || jwk.use === "sig") &&
    (entry.crv === undefined || jwk.crv === entry.crv)
  )
}

const optionalNumber = (value: unknown) => value === undefined || typeof value === "number"

/** The one usable key for the header, or `undefined` (none, several, private material). */
const selectKey = (set: JSONWebKeySet, alg: SupportedAlgorithm, kid: string | undefined) => {
  let found: JWK | undefined
  for (const jwk of set.keys) {
    if (!usable(jwk, alg, kid)) continue
    if (found !== undefined) return undefined
    found = jwk
  }
  if (found === undefined || privateMembers.some((m) => m in found)) return undefined
  return found
}

/** Checks the claims as jose's `validateClaimsSet` would accept them at `now` (seconds). */
const claimsOk = (payload: Record<string, unknown>, expect: Expect, now: number): boolean => {
  if (payload["iss"] !== expect.issuer) return false
  const aud = payload["aud"]
  if (
    expect.audience !== undefined &&
    !(aud === expect.audience || (Array.isArray(aud) && aud.includes(expect.audience)))
  )
    return false
  const { exp, nbf, iat } = payload
  if (typeof exp !== "number" || !optionalNumber(nbf) || !optionalNumber(iat)) return false
  if (!Number.isFinite(exp) || exp <= now - expect.tolerance) return false
  return !(typeof nbf === "number" && !(nbf <= now + expect.tolerance))
}

/** Verifies `token` against `set` at `now` (seconds). */
export const verify = (
  token: string,
  set: JSONWebKeySet,
  keys: JwsKeys,
  expect: Expect,
  now: number,
): Outcome => {
  const first = token.indexOf(".")
  const second = first < 0 ? -1 : token.indexOf(".", first + 1)
  if (first <= 0 || second < 0 || token.indexOf(".", second + 1) !== -1) return defer
  const header = parseObject(keys.decode(token.slice(0, first)))
  if (header === undefined) return defer
  for (const member in header) if (!headerMembers.has(member)) return defer
  const { alg, kid, typ } = header
  if (typeof alg !== "string" || !Object.hasOwn(entries, alg) || !expect.algorithms.includes(alg))
    return defer
  if ((kid !== undefined && typeof kid !== "string") || (typ !== undefined && typeof typ !== "string"))
    return defer
  // The claims before the signature: a token that would be deferred anyway costs no public-key
  // operation (an expired id_token, say). Every condition must hold, so the order decides nothing.
  const payload = parseObject(keys.decode(token.slice(first + 1, second)))
  if (payload === undefined || !claimsOk(payload, expect, now)) return defer
  const jwk = selectKey(set, alg as SupportedAlgorithm, kid)
  if (jwk === undefined) return defer
  const check = keys.keyFor(jwk, alg as SupportedAlgorithm)
  if (check === undefined || !check(token.slice(0, second), token.slice(second + 1))) return defer
  return { _tag: "ok", payload, jwk }
}

/** Whether remembered claims are still inside their lifetime at `now` (seconds), as jose checks it. */
export const timely = (payload: Record<string, unknown>, tolerance: number, now: number): boolean => {
  const { exp, nbf } = payload
  if (typeof exp === "number" && exp <= now - tolerance) return false
  return !(typeof nbf === "number" && nbf > now + tolerance)
}

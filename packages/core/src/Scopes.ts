/**
 * Scope sets: parsing the `scope` and `scp` claims and the `scope` request parameter into one
 * normalised, comparable value.
 *
 * Pure core. A scope set is trimmed, deduplicated and sorted, so the order, duplicates and
 * whitespace of the input never change the result (and two equal sets have one representation).
 *
 * @see [RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3)
 * @see [RFC 9068 §2.2.3](https://www.rfc-editor.org/rfc/rfc9068#section-2.2.3) (`scope` claim)
 * @see [RFC 8693 §4.2](https://www.rfc-editor.org/rfc/rfc8693#section-4.2) (`scp` as used by Entra/Okta)
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * A normalised scope set: unique scope tokens in ascending code-unit order.
 *
 * @category models
 * @since 0.1.0
 */
export type ScopeSet = ReadonlyArray<string>

/**
 * A scope token as RFC 6749 §3.3 allows it: one or more of `%x21 / %x23-5B / %x5D-7E`.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScopeToken = Schema.String.check(Schema.isPattern(/^[\x21\x23-\x5B\x5D-\x7E]+$/))

const scopeTokenPattern = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Whether `value` is a scope token (`ScopeToken`).
 *
 * @category utils
 * @since 0.1.0
 */
export const isScopeToken = (value: string): boolean => scopeTokenPattern.test(value)

/**
 * `normalize` of scopes an upstream reported (a token's claims, a token response, a response
 * header), keeping only scope tokens: anything else (a control character, a non-ASCII letter)
 * names no scope the proxy grants or requires, and would break the identity header that lists
 * the scopes for the target (every request of the user answered 502).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromUpstream = (tokens: Iterable<string>): ScopeSet => normalize(tokens).filter(isScopeToken)

/**
 * A stored scope set (JSON array of scope tokens).
 *
 * @category schemas
 * @since 0.1.0
 */
export const ScopeSetSchema = Schema.Array(Schema.String)

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/**
 * Normalises a list of scope tokens: each token trimmed, empty ones dropped, duplicates removed,
 * sorted.
 *
 * @category constructors
 * @since 0.1.0
 */
export const normalize = (tokens: Iterable<string>): ScopeSet => {
  const unique = new Set<string>()
  for (const token of tokens) {
    for (const part of token.split(/\s+/)) if (part !== "") unique.add(part)
  }
  return Array.from(unique).sort(compare)
}

/**
 * Parses a space-separated `scope` string (any run of whitespace separates tokens).
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (scope: string | undefined): ScopeSet => (scope === undefined ? [] : normalize([scope]))

/**
 * Reads the scopes of a verified token's claims: `scope` as a space-separated string, and `scp`
 * as a string or an array of strings (Entra, Okta). Both are merged when both are present; any
 * other shape contributes nothing, and only scope tokens are kept (`fromUpstream`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromClaims = (claims: { readonly scope?: unknown; readonly scp?: unknown }): ScopeSet => {
  const tokens: Array<string> = []
  if (typeof claims.scope === "string") tokens.push(claims.scope)
  if (typeof claims.scp === "string") tokens.push(claims.scp)
  else if (Array.isArray(claims.scp)) {
    for (const s of claims.scp) if (typeof s === "string") tokens.push(s)
  }
  return fromUpstream(tokens)
}

/**
 * Formats a scope set as the space-separated string of RFC 6749 §3.3.
 *
 * @category utils
 * @since 0.1.0
 */
export const format = (scopes: ScopeSet): string => scopes.join(" ")

/**
 * `true` when every scope of `required` is in `granted`.
 *
 * @category utils
 * @since 0.1.0
 */
export const isSubset = (required: ScopeSet, granted: ScopeSet): boolean => {
  if (required.length === 0) return true
  const have = new Set(granted)
  return required.every((s) => have.has(s))
}

/**
 * The scopes of `required` missing from `granted`.
 *
 * @category utils
 * @since 0.1.0
 */
export const difference = (required: ScopeSet, granted: ScopeSet): ScopeSet => {
  const have = new Set(granted)
  return required.filter((s) => !have.has(s))
}

/**
 * The union of two scope sets, normalised.
 *
 * @category utils
 * @since 0.1.0
 */
export const union = (a: ScopeSet, b: ScopeSet): ScopeSet => normalize([...a, ...b])

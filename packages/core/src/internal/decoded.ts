/**
 * Building blocks of the `isDecoded` checks next to some Schemas (`UpstreamTokenSet`,
 * `VerifiedClaims`, `ProxyTokenClaims`): cheap tests that a parsed JSON value is already exactly
 * what the Schema would decode it to, so hot reads can skip the decode. They only ever say "yes,
 * use it as is" or "ask the Schema"; each check is property-tested against its Schema.
 */

export const string = (value: unknown): boolean => typeof value === "string"

export const nonEmpty = (value: unknown): boolean => typeof value === "string" && value !== ""

/** A finite number (the Schemas' `Number` accepts more; anything else is left to the Schema). */
export const finite = (value: unknown): boolean => typeof value === "number" && Number.isFinite(value)

export const strings = (value: unknown, item: (value: unknown) => boolean = string): boolean => {
  if (!Array.isArray(value)) return false
  for (let i = 0; i < value.length; i++) if (!item(value[i])) return false
  return true
}

/** An object literal as JSON.parse makes it: `Object.prototype`, no own `__proto__` member. */
export const plain = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" &&
  value !== null &&
  Object.getPrototypeOf(value) === Object.prototype &&
  !Object.hasOwn(value, "__proto__")

/** Absent, or present and accepted by `ok`. */
export const optional = (record: Record<string, unknown>, key: string, ok: (value: unknown) => boolean) =>
  !Object.hasOwn(record, key) || ok(record[key])

/** Every own enumerable member is one of `members` (a Struct drops the others when decoding). */
export const only = (record: Record<string, unknown>, members: ReadonlySet<string>): boolean => {
  for (const key in record) if (!members.has(key) || !Object.hasOwn(record, key)) return false
  return true
}

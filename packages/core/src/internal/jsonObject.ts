/**
 * The JSON-object parse of a compact JWS's header and payload segments, shared by the proxy
 * token's HS256 check (`compactHs256`) and the upstream JWS check (`compactJws`).
 *
 * Pure core, internal (not exported from the package).
 */

/** The object `text` holds as JSON; `undefined` for anything else (array, scalar, bad JSON). */
export const parseObject = (text: string | undefined): Record<string, unknown> | undefined => {
  if (text === undefined) return undefined
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

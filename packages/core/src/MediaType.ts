/**
 * A `Content-Type` field value read the way RFC 9110 §8.3.1 writes it, and the one question the
 * MCP gate asks of it: is the body JSON in UTF-8?
 *
 * Pure core. The gate and list filtering decode a body as UTF-8 before they classify it; a server
 * that honours another `charset` (the MCP SDK's HTTP+SSE transport decodes with the one named;
 * Express's `express.json()` in front of the Streamable HTTP one reads `utf-16` and `utf-32`)
 * would read other text from the same bytes, so a call the gate allowed could be another call at
 * the target. Only UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8) is accepted,
 * and a field value a looser parser could read another charset from (a `charset` that is not a
 * well-formed parameter of its own, e.g. inside a quoted value or repeated) is refused too.
 *
 * @see [RFC 9110 §8.3.1 (media type)](https://www.rfc-editor.org/rfc/rfc9110#section-8.3.1)
 * @since 0.1.0
 */

/**
 * A parsed media type: `type/subtype` and parameter names in lower case, values unquoted.
 *
 * @category models
 * @since 0.1.0
 */
export interface MediaType {
  readonly type: string
  readonly parameters: ReadonlyArray<readonly [name: string, value: string]>
}

const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/
const ows = /^[ \t]*/

/**
 * Parses a field value; `undefined` when it is not `type/subtype *( OWS ";" OWS [ parameter ] )`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (value: string): MediaType | undefined => {
  let rest = value.trim()
  const type = token.exec(rest)?.[0]
  if (type === undefined || rest[type.length] !== "/") return undefined
  rest = rest.slice(type.length + 1)
  const subtype = token.exec(rest)?.[0]
  if (subtype === undefined) return undefined
  rest = rest.slice(subtype.length)
  const parameters: Array<readonly [string, string]> = []
  for (;;) {
    rest = rest.slice(ows.exec(rest)![0].length)
    if (rest === "") return { type: `${type}/${subtype}`.toLowerCase(), parameters }
    if (rest[0] !== ";") return undefined
    rest = rest.slice(1)
    rest = rest.slice(ows.exec(rest)![0].length)
    const name = token.exec(rest)?.[0]
    if (name === undefined) continue
    if (rest[name.length] !== "=") return undefined
    rest = rest.slice(name.length + 1)
    const read = rest.startsWith('"') ? quoted(rest) : token.exec(rest)?.[0]
    if (read === undefined) return undefined
    const [text, length] = typeof read === "string" ? [read, read.length] : read
    parameters.push([name.toLowerCase(), text])
    rest = rest.slice(length)
  }
}

/** A quoted-string at the start of `s`: its unescaped text and its length, or `undefined`. */
const quoted = (s: string): readonly [string, number] | undefined => {
  let text = ""
  for (let i = 1; i < s.length; i++) {
    const c = s[i]!
    if (c === '"') return [text, i + 1]
    if (c === "\\") {
      i++
      if (i >= s.length) return undefined
      text += s[i]
    } else text += c
  }
  return undefined
}

/**
 * What a request's `Content-Type` says of its body: JSON in UTF-8 (`Json`; no `charset`, or
 * `utf-8` / `utf8` in any letter case, quoted or not), JSON in another or an unclear charset
 * (`Charset`, with the value named when there is one), or not JSON at all (`NotJson`, a missing
 * or malformed field included).
 *
 * @category models
 * @since 0.1.0
 */
export type JsonBody =
  | { readonly _tag: "Json" }
  | { readonly _tag: "Charset"; readonly charset: string | undefined }
  | { readonly _tag: "NotJson" }

const utf8Labels = new Set(["utf-8", "utf8"])

/**
 * Whether a `Content-Type` (of any media type) lets a body be read as UTF-8: it names no charset,
 * or only UTF-8 in well-formed `charset` parameters. Every `charset` in the text must be such a
 * parameter: one inside a quoted value, in a malformed field, or in a longer parameter name is
 * what a looser parser would read instead (`Charset`, no value named).
 *
 * @category constructors
 * @since 0.1.0
 */
export const charset = (contentType: string | null): Exclude<JsonBody, { readonly _tag: "NotJson" }> => {
  const mentions = contentType === null ? 0 : contentType.toLowerCase().split("charset").length - 1
  if (mentions === 0) return { _tag: "Json" }
  const parsed = parse(contentType!)
  if (parsed === undefined) return { _tag: "Charset", charset: undefined }
  const named = parsed.parameters.filter(([name]) => name === "charset").map(([, value]) => value)
  const other = named.find((c) => !utf8Labels.has(c.toLowerCase()))
  if (other !== undefined) return { _tag: "Charset", charset: other }
  if (mentions !== named.length) return { _tag: "Charset", charset: undefined }
  return { _tag: "Json" }
}

/**
 * Reads a request's `Content-Type` as the MCP gate needs it (see `JsonBody`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const jsonBody = (contentType: string | null): JsonBody => {
  const parsed = contentType === null ? undefined : parse(contentType)
  if (parsed === undefined || parsed.type !== "application/json") return { _tag: "NotJson" }
  return charset(contentType)
}

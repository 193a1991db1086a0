/**
 * Token-endpoint answers of providers that bend RFC 6749 §5, rewritten into the standard shape
 * before oauth4webapi reads them.
 *
 * Internal helper of `TokenClient`. Each rewrite is a provider's documented behaviour: GitHub
 * answers `application/x-www-form-urlencoded` unless asked for JSON (the proxy asks, but an
 * endpoint may ignore it), reports errors such as `bad_verification_code` with HTTP 200, and
 * separates granted scopes with commas (`repo,user:email`). An error delivered with 200 becomes a
 * 400 so it is refused as an error (`rejected`, naming its code), never mistaken for a success or
 * an upstream outage. `expires_in` as a numeric string or absent is left to oauth4webapi, which
 * accepts both. GitHub Apps with expiring user tokens name the refresh token's lifetime
 * `refresh_token_expires_in`; it becomes `refresh_expires_in` (as a number) when that is absent.
 *
 * @see [RFC 6749 §5.1, §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.1)
 * @since 0.1.0
 */
import type { Answer } from "./send.ts"

const decoder = new TextDecoder()
const encoder = new TextEncoder()

const mediaType = (headers: Answer["headers"]): string =>
  (headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()

/** The body as a JSON object (from JSON or a form), or `undefined` when it is neither. */
const objectOf = (answer: Answer): Record<string, unknown> | undefined => {
  const text = decoder.decode(answer.body)
  if (mediaType(answer.headers) === "application/x-www-form-urlencoded")
    return Object.fromEntries(new URLSearchParams(text))
  try {
    const json: unknown = JSON.parse(text)
    return typeof json === "object" && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The answer in the standard shape: a JSON body, an error with an error status, scopes separated
 * by spaces. An answer that is neither JSON nor a form is returned as it is (oauth4webapi refuses
 * it).
 *
 * @category utils
 * @since 0.1.0
 */
export const normalize = (answer: Answer): Answer => {
  const body = objectOf(answer)
  if (body === undefined) return answer
  const isError = typeof body["error"] === "string" && body["access_token"] === undefined
  const scope = body["scope"]
  const fixed =
    typeof scope === "string" && scope.includes(",")
      ? {
          ...body,
          scope: scope
            .split(/[\s,]+/)
            .filter((s) => s !== "")
            .join(" "),
        }
      : body
  const refreshLifetime = Number(fixed["refresh_token_expires_in"])
  const named =
    fixed["refresh_expires_in"] === undefined && Number.isFinite(refreshLifetime) && refreshLifetime > 0
      ? { ...fixed, refresh_expires_in: refreshLifetime }
      : fixed
  return {
    status: answer.status === 200 && isError ? 400 : answer.status,
    headers: { ...answer.headers, "content-type": "application/json" },
    body: encoder.encode(JSON.stringify(named)) as Uint8Array<ArrayBuffer>,
  }
}

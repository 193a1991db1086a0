/**
 * A step-by-step record of HTTP exchanges (method, URL, status, redirect target), for assertions and for
 * the demo's printed walkthrough.
 *
 * Testing utility. URLs are stored with credentials-bearing query parameters (`code`, tokens, secrets)
 * redacted, so a transcript can be printed as is.
 *
 * @since 0.1.0
 */

/**
 * @category models
 * @since 0.1.0
 */
export interface TranscriptEntry {
  /** Who sent it: the headless browser (user agent) or the MCP SDK client (back channel and MCP calls). */
  readonly via: "browser" | "sdk"
  readonly method: string
  /** Redacted URL. */
  readonly url: string
  readonly status: number
  /** Redacted `Location` of a redirect, if any. */
  readonly location?: string
}

const sensitive = new Set([
  "code",
  "code_verifier",
  "client_secret",
  "access_token",
  "refresh_token",
  "id_token",
  "token",
  "password",
])

/**
 * Replaces the values of credential query parameters with `***`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const redactUrl = (url: URL | string): string => {
  const copy = new URL(url)
  for (const key of [...copy.searchParams.keys()]) {
    if (sensitive.has(key)) copy.searchParams.set(key, "***")
  }
  return copy.href
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const transcriptEntry = (
  via: TranscriptEntry["via"],
  method: string,
  url: URL,
  response: Response,
): TranscriptEntry => {
  const location = response.headers.get("location")
  return {
    via,
    method: method.toUpperCase(),
    url: redactUrl(url),
    status: response.status,
    ...(location === null ? {} : { location: redactUrl(new URL(location, url)) }),
  }
}

/**
 * A `fetch` that appends one entry per request to `transcript` and otherwise behaves like `base`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const recordingFetch =
  (transcript: TranscriptEntry[], base: typeof fetch = globalThis.fetch): typeof fetch =>
  async (input, init) => {
    const request = input instanceof Request ? input : undefined
    const url = new URL(request?.url ?? (input as string | URL))
    const response = await base(input, init)
    transcript.push(transcriptEntry("sdk", init?.method ?? request?.method ?? "GET", url, response))
    return response
  }

/**
 * One numbered line per entry: `3. browser POST http://…/interaction/… → 303 http://…`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const formatTranscript = (entries: ReadonlyArray<TranscriptEntry>): string =>
  entries
    .map((e, i) => {
      const target = e.location === undefined ? "" : ` ${e.location}`
      return `${String(i + 1).padStart(3)}. ${e.via.padEnd(7)} ${e.method.padEnd(6)} ${e.url} → ${e.status}${target}`
    })
    .join("\n")

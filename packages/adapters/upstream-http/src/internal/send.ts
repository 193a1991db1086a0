/**
 * One upstream HTTP exchange under the two rules every upstream call obeys: no redirect is
 * followed, and no more than `maxResponseBytes` of a body are read.
 *
 * Internal helper shared by `Discovery`, `HttpJwks` and `TokenClient`. A redirect would send the
 * request (for the token endpoint: the code, the PKCE verifier and the client secret) to a URL the
 * endpoint rule never checked, or fetch keys from one; a 3xx is therefore an upstream failure. The
 * body is streamed and counted, so an endless answer costs at most the cap in memory: the read
 * stops there and the connection is dropped.
 *
 * @since 0.1.0
 */
import { Data, Effect, Stream } from "effect"
import {
  FetchHttpClient,
  type HttpClient,
  type HttpClientRequest,
  type HttpClientResponse,
} from "effect/http"

/**
 * Largest upstream response body read, in bytes (1 MiB): discovery, JWKS, token and revocation
 * answers are a few KiB.
 *
 * @category constants
 * @since 0.1.0
 */
export const maxResponseBytes = 1024 * 1024

/**
 * Why an exchange failed: the server could not be reached or the read broke off (`unreachable`),
 * it answered with a redirect (`redirect`), or its body passed the cap (`too_large`).
 *
 * @category errors
 * @since 0.1.0
 */
export class SendFailure extends Data.TaggedError("SendFailure")<{
  readonly reason: "unreachable" | "redirect" | "too_large"
  readonly description: string
}> {}

/**
 * @category models
 * @since 0.1.0
 */
export interface Answer {
  readonly status: number
  readonly headers: HttpClientResponse.HttpClientResponse["headers"]
  readonly body: Uint8Array<ArrayBuffer>
}

const isRedirect = (status: number) => status >= 300 && status <= 399

/** Reads the body chunk by chunk and stops (cancelling the stream) once it passes `maxBytes`. */
const readCapped = (
  response: HttpClientResponse.HttpClientResponse,
  url: string,
  maxBytes: number,
): Effect.Effect<Uint8Array<ArrayBuffer>, SendFailure> => {
  const tooLarge = new SendFailure({
    reason: "too_large",
    description: `${url} answered with a body larger than ${maxBytes} bytes`,
  })
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBytes) return Effect.fail(tooLarge)
  const chunks: Array<Uint8Array> = []
  let size = 0
  return response.stream.pipe(
    // A response without a body has an empty one.
    Stream.catchIf(
      (error) => error.reason._tag === "EmptyBodyError",
      () => Stream.empty,
    ),
    Stream.mapError(
      (error) =>
        new SendFailure({ reason: "unreachable", description: `reading ${url} failed: ${error.message}` }),
    ),
    Stream.runForEach((chunk) => {
      size += chunk.byteLength
      if (size > maxBytes) return Effect.fail(tooLarge)
      chunks.push(chunk)
      return Effect.void
    }),
    Effect.map(() => {
      const body = new Uint8Array(size)
      let at = 0
      for (const chunk of chunks) {
        body.set(chunk, at)
        at += chunk.byteLength
      }
      return body
    }),
  )
}

/**
 * Sends `request` without following redirects and reads at most `maxBytes` of the answer.
 *
 * With `FetchHttpClient` the fetch is told `redirect: "manual"`, so a 3xx comes back as it is; any
 * 3xx, whatever client is used, fails with `redirect`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const send = (
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  maxBytes: number = maxResponseBytes,
): Effect.Effect<Answer, SendFailure> =>
  Effect.gen(function* () {
    const url = request.url
    const response = yield* client.execute(request).pipe(
      Effect.provideService(FetchHttpClient.RequestInit, { redirect: "manual" }),
      Effect.mapError(
        (error) =>
          new SendFailure({ reason: "unreachable", description: `${url} is unreachable: ${error.message}` }),
      ),
    )
    if (isRedirect(response.status)) {
      return yield* new SendFailure({
        reason: "redirect",
        description: `${url} answered HTTP ${response.status}; upstream redirects are not followed`,
      })
    }
    const body = nullBody(response.status) ? new Uint8Array(0) : yield* readCapped(response, url, maxBytes)
    return { status: response.status, headers: response.headers, body }
  })

const nullBody = (status: number) => status === 204 || status === 205 || status === 304

/**
 * A bounded JSON GET over `HttpClient`, with its failures sorted into the three ways an upstream
 * endpoint can fail us (unreachable, timeout, bad answer).
 *
 * Internal helper shared by `Discovery` and `HttpJwks`; each maps `GetFailure` to its own error.
 * The exchange is `send`'s: no redirect followed, at most `maxResponseBytes` read.
 *
 * @since 0.1.0
 */
import { Data, Duration, Effect } from "effect"
import { type Headers, type HttpClient, HttpClientRequest } from "effect/http"
import { send } from "./send.ts"

/**
 * Why a GET did not produce a JSON body. `status` is set when the server answered.
 *
 * @category errors
 * @since 0.1.0
 */
export class GetFailure extends Data.TaggedError("GetFailure")<{
  readonly reason: "unreachable" | "timeout" | "bad_response"
  readonly description: string
  readonly status?: number
}> {
  /** 5xx, 429, timeouts and network failures may pass on a later try; another 4xx or a bad body will not. */
  get retryable(): boolean {
    return (
      this.reason !== "bad_response" ||
      (this.status !== undefined && (this.status >= 500 || this.status === 429))
    )
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface JsonResponse {
  readonly json: unknown
  readonly headers: Headers.Headers
}

/**
 * GETs `url` and parses its body as JSON, failing after `timeout`. A redirect or a body past the
 * cap is a `bad_response`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const getJson = (
  client: HttpClient.HttpClient,
  url: string,
  timeout: Duration.Input,
): Effect.Effect<JsonResponse, GetFailure> =>
  Effect.gen(function* () {
    const response = yield* send(client, HttpClientRequest.get(url, { acceptJson: true })).pipe(
      Effect.mapError(
        (failure) =>
          new GetFailure({
            reason: failure.reason === "unreachable" ? "unreachable" : "bad_response",
            description: failure.description,
          }),
      ),
    )
    if (response.status < 200 || response.status > 299) {
      return yield* new GetFailure({
        reason: "bad_response",
        status: response.status,
        description: `${url} answered HTTP ${response.status}`,
      })
    }
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(new TextDecoder().decode(response.body)),
      catch: () => new GetFailure({ reason: "bad_response", description: `${url} did not answer with JSON` }),
    })
    return { json, headers: response.headers }
  }).pipe(
    // Interrupting the request on timeout aborts the underlying fetch, so no socket is left behind.
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new GetFailure({
            reason: "timeout",
            description: `${url} did not answer within ${Duration.format(Duration.fromInputUnsafe(timeout))}`,
          }),
        ),
    }),
  )

/**
 * The downstream-token exchange at the IdP's token endpoint: an RFC 8693 token exchange, or
 * Entra's on-behalf-of request, with the upstream access token as subject and the proxy's own
 * client credentials.
 *
 * Adapter. The request is built from core's `DownstreamToken.grantParameters`; it is sent by the
 * one upstream transport (`internal/send.ts`: no redirect followed, at most 1 MiB read) and bounded
 * by `timeoutDuration`. Every outcome is translated to `DownstreamTokenError` in one place
 * (`classify`): an outage, a timeout, 5xx or 429 is `unavailable`; `invalid_grant` is
 * `subject_refused`; any other OAuth error is `refused`; anything else `bad_response`. Neither the
 * subject token, the result, the client secret nor the IdP's `error_description` ever reaches a
 * description.
 *
 * @see [RFC 8693 §2](https://www.rfc-editor.org/rfc/rfc8693#section-2)
 * @see [RFC 6749 §2.3.1, §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)
 * @since 0.1.0
 */
import { DownstreamToken, OAuthError } from "@oidc-proxy/core"
import { Duration, Effect, Redacted, Result, Schema } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import { basicAuthorization } from "./internal/clientSecretBasic.ts"
import { type Answer, send } from "./internal/send.ts"
import type { AuthMethod } from "./TokenClient.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The token endpoint the exchange is sent to (the upstream's, unless configured otherwise). */
  readonly endpoint: string
  readonly client_id: string
  readonly client_secret: Redacted.Redacted<string>
  /** Default `client_secret_basic`. */
  readonly token_endpoint_auth_method?: AuthMethod | undefined
  readonly settings: DownstreamToken.Settings
  /** Time limit for one exchange. Default 5 seconds. */
  readonly timeoutDuration?: Duration.Input | undefined
}

/**
 * One exchange of a subject token for a downstream token.
 *
 * @category models
 * @since 0.1.0
 */
export type Exchange = (
  subjectToken: string,
) => Effect.Effect<DownstreamToken.ExchangeResponse, OAuthError.DownstreamTokenError>

/** An OAuth error code as RFC 6749 §5.2 allows it, or nothing (it is quoted in a description). */
const errorCodeOf = (body: unknown): string | undefined => {
  const code = typeof body === "object" && body !== null ? (body as { error?: unknown }).error : undefined
  return typeof code === "string" && /^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(code) ? code : undefined
}

const parseJson = (bytes: Uint8Array): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return undefined
  }
}

const decodeResponse = Schema.decodeUnknownResult(DownstreamToken.ExchangeResponse)

const failure = (
  reason: OAuthError.DownstreamTokenError["reason"],
  description: string,
  error?: string,
): OAuthError.DownstreamTokenError =>
  new OAuthError.DownstreamTokenError({
    reason,
    description,
    ...(error === undefined ? {} : { error }),
  })

/**
 * The outcome of an exchange's HTTP answer.
 *
 * @category error handling
 * @since 0.1.0
 */
export const classify = (
  answer: Answer,
): Result.Result<DownstreamToken.ExchangeResponse, OAuthError.DownstreamTokenError> => {
  const { status } = answer
  if (status >= 500 || status === 429)
    return Result.fail(failure("unavailable", `the token endpoint answered HTTP ${status}`))
  const body = parseJson(answer.body)
  if (status === 200) {
    const decoded = decodeResponse(body)
    if (Result.isFailure(decoded))
      return Result.fail(failure("bad_response", "the exchange answer is not a token response"))
    return Result.mapError(DownstreamToken.checkResponse(decoded.success), (why) =>
      failure("bad_response", `the exchanged token cannot be forwarded: ${why}`),
    )
  }
  const code = errorCodeOf(body)
  if (status === 400 || status === 401 || status === 403) {
    if (code === "invalid_grant")
      return Result.fail(failure("subject_refused", "the upstream token was refused for exchange", code))
    return Result.fail(
      failure("refused", `the token exchange was refused (${code ?? `HTTP ${status}`})`, code),
    )
  }
  return Result.fail(failure("bad_response", `the token endpoint answered HTTP ${status}`))
}

/**
 * Builds the exchange over the `HttpClient` in context.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<Exchange, never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const timeout = options.timeoutDuration ?? "5 seconds"
    const timeoutText = Duration.format(Duration.fromInputUnsafe(timeout))
    const post = options.token_endpoint_auth_method === "client_secret_post"
    const basic = basicAuthorization(options.client_id, Redacted.value(options.client_secret))

    const request = (subjectToken: string) => {
      const form = new URLSearchParams(
        DownstreamToken.grantParameters(options.settings, subjectToken) as Array<[string, string]>,
      )
      if (post) {
        form.set("client_id", options.client_id)
        form.set("client_secret", Redacted.value(options.client_secret))
      }
      return HttpClientRequest.post(options.endpoint, {
        headers: { accept: "application/json", ...(post ? {} : { authorization: basic }) },
        body: HttpBody.text(form.toString(), "application/x-www-form-urlencoded"),
      })
    }

    return (subjectToken) =>
      send(client, request(subjectToken)).pipe(
        Effect.mapError((sent) =>
          sent.reason === "unreachable"
            ? failure("unavailable", "the token endpoint is unreachable")
            : failure("bad_response", `the token endpoint answer was refused (${sent.reason})`),
        ),
        Effect.flatMap((answer) => Effect.fromResult(classify(answer))),
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(failure("unavailable", `the token endpoint did not answer within ${timeoutText}`)),
        }),
        Effect.withSpan("TokenExchange.exchange"),
      )
  })

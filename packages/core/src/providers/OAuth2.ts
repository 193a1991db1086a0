/**
 * Any plain OAuth 2.0 authorization server: endpoints by hand (no discovery), opaque access tokens
 * verified by RFC 7662 introspection or by a userinfo / provider API call.
 *
 * Pure core. A name for what `ProxyConfig.UpstreamConfig` already allows; what it adds is that a
 * missing endpoint is refused here, naming it, instead of surfacing as a discovery failure.
 *
 * @see [RFC 6749](https://www.rfc-editor.org/rfc/rfc6749)
 * @see [RFC 7662](https://www.rfc-editor.org/rfc/rfc7662)
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { baseUrl, clientId, InvalidPreset } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  readonly authorization_endpoint: string
  readonly token_endpoint: string
  /** `userinfo` (default) or `introspection`; the matching endpoint is required. */
  readonly verification?: "introspection" | "userinfo"
  readonly userinfo_endpoint?: string
  readonly introspection_endpoint?: string
  /** RFC 7009 revocation endpoint. Default: none (revocation ends only the proxy's tokens). */
  readonly revocation_endpoint?: string
  /** Scopes requested when the client asks for none. Default none. */
  readonly scopes?: ReadonlyArray<string>
}

const url = (option: string, value: string | undefined): string => {
  if (value === undefined)
    throw new InvalidPreset({ preset: "oauth2", option, description: "is required (there is no discovery)" })
  baseUrl("oauth2", option, value)
  return value
}

/**
 * Throws `InvalidPreset` naming the first endpoint that is missing or not an http(s) URL.
 *
 * @category constructors
 * @since 0.1.0
 */
export const oauth2 = (options: Options): Fragment => {
  const verification = options.verification ?? "userinfo"
  const strategy = verification === "userinfo" ? "userinfo_endpoint" : "introspection_endpoint"
  const authorization = url("authorization_endpoint", options.authorization_endpoint)
  const token = url("token_endpoint", options.token_endpoint)
  const check = url(strategy, options[strategy])
  const revocation =
    options.revocation_endpoint === undefined
      ? {}
      : { revocation_endpoint: url("revocation_endpoint", options.revocation_endpoint) }
  return {
    verification_mode: "access_token",
    upstream: {
      issuer: options.issuer ?? new URL(authorization).origin,
      ...clientId(options),
      scopes: [...(options.scopes ?? [])],
      authorization_endpoint: authorization,
      token_endpoint: token,
      [strategy]: check,
      ...revocation,
      verification,
    },
  }
}

/**
 * Any OpenID provider with discovery and JWT access tokens: the generic preset, what the proxy does
 * without one.
 *
 * Pure core.
 *
 * @since 0.1.0
 */
import type { Common, Fragment } from "./Fragment.ts"
import { baseUrl, clientId } from "./Fragment.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Common {
  readonly issuer: string
  /** Verify the id_token instead of the access token (opaque access tokens). Default `false`. */
  readonly id_token?: boolean
  readonly audience?: string
}

/**
 * Throws `InvalidPreset` for an issuer that is not an http(s) URL.
 *
 * @category constructors
 * @since 0.1.0
 */
export const oidc = (options: Options): Fragment => {
  baseUrl("oidc", "issuer", options.issuer)
  return {
    verification_mode: options.id_token === true ? "id_token" : "access_token",
    upstream: {
      issuer: options.issuer,
      ...clientId(options),
      ...(options.audience === undefined ? {} : { audience: options.audience }),
      scopes: ["openid"],
    },
  }
}

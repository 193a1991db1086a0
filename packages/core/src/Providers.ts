/**
 * Provider presets: one function per identity provider returning the provider-specific part of a
 * `ProxyConfig` input (issuer, verification mode, default scopes, authorization parameters,
 * audience, access rules), and `apply` to put the rest of the configuration over it.
 *
 * Pure core. Each preset lives in `providers/<Name>.ts` and documents the provider behaviour it
 * encodes; a preset option that cannot be used throws `InvalidPreset` naming the option.
 *
 * ```ts
 * const config = Providers.apply(Providers.entra({ tenant: "organizations", tenants: [tid] }), {
 *   issuer: "https://mcp.example.com",
 *   resource: "https://mcp.example.com/mcp",
 *   upstream: { client_id: "…" },
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import { auth0 } from "./providers/Auth0.ts"
import { cognito } from "./providers/Cognito.ts"
import { entra } from "./providers/Entra.ts"
import { type Common, type Fragment, InvalidPreset } from "./providers/Fragment.ts"
import { github } from "./providers/GitHub.ts"
import { google } from "./providers/Google.ts"
import { keycloak } from "./providers/Keycloak.ts"
import { oauth2 } from "./providers/OAuth2.ts"
import { oidc } from "./providers/Oidc.ts"
import { okta } from "./providers/Okta.ts"
import { sapCis } from "./providers/SapCis.ts"

export {
  /** @since 0.1.0 */
  auth0,
  /** @since 0.1.0 */
  type Common,
  /** @since 0.1.0 */
  cognito,
  /** @since 0.1.0 */
  entra,
  /** @since 0.1.0 */
  type Fragment,
  /** @since 0.1.0 */
  github,
  /** @since 0.1.0 */
  google,
  /** @since 0.1.0 */
  InvalidPreset,
  /** @since 0.1.0 */
  keycloak,
  /** @since 0.1.0 */
  oauth2,
  /** @since 0.1.0 */
  oidc,
  /** @since 0.1.0 */
  okta,
  /** @since 0.1.0 */
  sapCis,
}

/**
 * The presets by the name the gateway's `OIDC_PROXY_PROVIDER` uses.
 *
 * @category constants
 * @since 0.1.0
 */
export const names = [
  "google",
  "entra",
  "auth0",
  "okta",
  "keycloak",
  "sap-cis",
  "cognito",
  "github",
  "oidc",
  "oauth2",
] as const

/**
 * @category models
 * @since 0.1.0
 */
export type Name = (typeof names)[number]

/**
 * Runs a preset, turning a thrown `InvalidPreset` into a failure.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <O>(
  preset: (options: O) => Fragment,
  options: O,
): Result.Result<Fragment, InvalidPreset> => {
  try {
    return Result.succeed(preset(options))
  } catch (error) {
    if (error instanceof InvalidPreset) return Result.fail(error)
    throw error
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const merge = (base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue
    const below = out[key]
    out[key] = isRecord(below) && isRecord(value) ? merge(below, value) : value
  }
  return out
}

/**
 * The configuration input `config` over the preset's `fragment`: objects merge member by member,
 * anything else set in `config` (a scalar, a list) replaces the preset's value. The result is input
 * for `ProxyConfig.decode`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const apply = (
  fragment: Fragment,
  config: Readonly<Record<string, unknown>>,
): Record<string, unknown> => merge(fragment as unknown as Record<string, unknown>, config)

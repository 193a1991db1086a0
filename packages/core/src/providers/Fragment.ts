/**
 * What a provider preset produces: the part of a `ProxyConfig` input that depends on the provider
 * (issuer, verification mode, scopes, authorization parameters, audience, access rules), and the
 * errors a preset's options can have.
 *
 * Pure core (types and one error). A fragment is input to `ProxyConfig.decode`, merged under the
 * caller's own settings by `Providers.apply`, so every field can still be overridden.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { VerificationMode } from "../VerificationMode.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Fragment {
  readonly verification_mode: VerificationMode
  readonly upstream: {
    readonly issuer: string
    readonly issuer_template?: string
    readonly client_id?: string
    readonly audience?: string
    readonly access_token_client_id?: boolean
    readonly scopes: ReadonlyArray<string>
    readonly extra_authorize_params?: Readonly<Record<string, string>>
    /** Endpoints by hand (no discovery) and the verification strategy, for plain OAuth 2.0. */
    readonly authorization_endpoint?: string
    readonly token_endpoint?: string
    readonly revocation_endpoint?: string
    readonly userinfo_endpoint?: string
    readonly introspection_endpoint?: string
    readonly verification?: "jwt" | "introspection" | "userinfo"
    readonly subject_claim?: string
    readonly scopes_header?: string
    readonly github_api_url?: string
  }
  readonly access?: {
    readonly emails?: ReadonlyArray<string>
    readonly email_domains?: ReadonlyArray<string>
    readonly tenants?: ReadonlyArray<string>
    readonly hosted_domains?: ReadonlyArray<string>
    readonly groups?: ReadonlyArray<string>
    readonly organizations?: ReadonlyArray<string>
  }
}

/**
 * Options every preset takes.
 *
 * @category models
 * @since 0.1.0
 */
export interface Common {
  /** The proxy's client id at the provider (`upstream.client_id`). */
  readonly client_id?: string
  /**
   * The provider's issuer, replacing the public one the preset derives (a sovereign cloud, a
   * private deployment, a local stand-in). Everything derived from the issuer follows it.
   */
  readonly issuer?: string
}

/**
 * A preset option that cannot be used; `option` names it, `preset` the provider.
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidPreset extends Schema.TaggedError<InvalidPreset>()("InvalidPreset", {
  preset: Schema.String,
  option: Schema.String,
  description: Schema.String,
}) {
  override get message(): string {
    return `${this.preset} preset: ${this.option} ${this.description}`
  }
}

/**
 * `client_id` when given (so a fragment never sets it to `undefined`).
 *
 * @category utils
 * @since 0.1.0
 */
export const clientId = (options: Common): { readonly client_id?: string } =>
  options.client_id === undefined ? {} : { client_id: options.client_id }

/**
 * Fails (throws `InvalidPreset`) unless `value` is a host name, optionally with a port, without
 * scheme or path: what the presets build `https://{host}` issuers from.
 *
 * @category utils
 * @since 0.1.0
 */
export const host = (preset: string, option: string, value: string): string => {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d{1,5})?$/.test(value))
    throw new InvalidPreset({ preset, option, description: `must be a host name such as login.example.com` })
  return value
}

/**
 * Fails (throws `InvalidPreset`) unless `value` is an absolute http(s) URL; returns it without a
 * trailing `/`.
 *
 * @category utils
 * @since 0.1.0
 */
export const baseUrl = (preset: string, option: string, value: string): string => {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:"))
    throw new InvalidPreset({ preset, option, description: "must be an absolute http(s) URL" })
  return value.replace(/\/+$/, "")
}

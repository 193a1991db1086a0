/**
 * Registered MCP clients: the stored record and the registration rules (RFC 7591).
 *
 * Pure core. `validateRegistration` turns untrusted registration metadata into a client record or
 * an `invalid_redirect_uri` / `invalid_client_metadata` error naming the bad field. Limits on
 * sizes keep hostile metadata (huge arrays, long strings) out of the store.
 *
 * @see [RFC 7591 §2, §3.2](https://www.rfc-editor.org/rfc/rfc7591#section-2)
 * @since 0.1.0
 */
import { Schema } from "effect"
import { type OAuthFailure, oauth } from "./OAuthError.ts"
import * as RedirectUri from "./RedirectUri.ts"
import * as Scopes from "./Scopes.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const AuthMethod = Schema.Literals([
  "none",
  "client_secret_basic",
  "client_secret_post",
  /** Client ID Metadata Document clients only (RFC 7523 assertion signed with the document's keys). */
  "private_key_jwt",
])

/**
 * @category models
 * @since 0.1.0
 */
export type AuthMethod = typeof AuthMethod.Type

/**
 * @category schemas
 * @since 0.1.0
 */
export const GrantType = Schema.Literals(["authorization_code", "refresh_token"])

/**
 * A registered client as stored.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Client = Schema.Struct({
  client_id: Schema.NonEmptyString,
  /** Keyed hash of the client secret (confidential clients only). */
  client_secret_hash: Schema.optionalKey(Schema.String),
  client_id_issued_at: Schema.Number,
  redirect_uris: Schema.Array(Schema.String),
  grant_types: Schema.Array(GrantType),
  response_types: Schema.Array(Schema.Literal("code")),
  token_endpoint_auth_method: AuthMethod,
  application_type: Schema.Literals(["web", "native"]),
  client_name: Schema.optionalKey(Schema.String),
  client_uri: Schema.optionalKey(Schema.String),
  logo_uri: Schema.optionalKey(Schema.String),
  /** Scopes the client may ask for, space-separated; absent = any valid scope. */
  scope: Schema.optionalKey(Schema.String),
  software_id: Schema.optionalKey(Schema.String),
  software_version: Schema.optionalKey(Schema.String),
  /**
   * Where the record came from: `dcr` (registered at `/register`) or `cimd` (a Client ID Metadata
   * Document fetched from the URL that is the `client_id`). Absent on records stored before this
   * field existed, which are DCR records.
   */
  source: Schema.optionalKey(Schema.Literals(["dcr", "cimd"])),
  /** The client's public keys for `private_key_jwt` (CIMD clients; from `jwks` or `jwks_uri`). */
  jwks: Schema.optionalKey(
    Schema.Struct({ keys: Schema.Array(Schema.Record(Schema.String, Schema.Unknown)) }),
  ),
  /** Where `jwks` was fetched from, when the document named a `jwks_uri`. */
  jwks_uri: Schema.optionalKey(Schema.String),
  /**
   * When the client first redeemed a code (epoch seconds; DCR clients): until then the record
   * lives `ttl.unused_client`, from then on `ttl.client` from registration.
   */
  first_token_at: Schema.optionalKey(Schema.Number),
})

/**
 * @category models
 * @since 0.1.0
 */
export type Client = typeof Client.Type

/**
 * What the registration policy allows.
 *
 * @category models
 * @since 0.1.0
 */
export interface RegistrationPolicy {
  /** Scopes a client may register; empty = any. */
  readonly validScopes: Scopes.ScopeSet
  /** Redirect URI allow-list (see `RedirectUri.compilePatterns`). */
  readonly allowRedirectUri: (uri: string) => boolean
}

/**
 * Size limits on registration metadata: the whole JSON document (as compact UTF-8 JSON, in bytes),
 * the number of redirect URIs, and each string (in characters).
 *
 * @category constants
 * @since 0.1.0
 */
export const limits = { document: 8192, redirectUris: 10, string: 512, uri: 2000, scope: 2000 } as const

type Fail = (
  field: string,
  why: string,
  code?: "invalid_redirect_uri" | "invalid_client_metadata",
) => OAuthFailure

const fail: Fail = (field, why, code = "invalid_client_metadata") => oauth(code, `${field} ${why}`)

const optionalString = (
  body: Record<string, unknown>,
  field: string,
  max: number = limits.string,
): string | undefined | OAuthFailure => {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== "string") return fail(field, "must be a string")
  if (v.length > max) return fail(field, `must be at most ${max} characters`)
  return v
}

const httpsUri = (body: Record<string, unknown>, field: string): string | undefined | OAuthFailure => {
  const v = optionalString(body, field, limits.uri)
  if (typeof v !== "string") return v
  try {
    const u = new URL(v)
    return u.protocol === "https:" || RedirectUri.isLoopback(u) ? v : fail(field, "must be an https URL")
  } catch {
    return fail(field, "must be an absolute URL")
  }
}

const stringArray = (
  body: Record<string, unknown>,
  field: string,
  max: number,
): ReadonlyArray<string> | undefined | OAuthFailure => {
  const v = body[field]
  if (v === undefined || v === null) return undefined
  if (!Array.isArray(v)) return fail(field, "must be an array of strings")
  if (v.length > max) return fail(field, `must have at most ${max} entries`)
  if (!v.every((x) => typeof x === "string")) return fail(field, "must be an array of strings")
  if (!v.every((x) => x.length <= limits.uri))
    return fail(field, `entries must be at most ${limits.uri} characters`)
  return v as ReadonlyArray<string>
}

const isFailure = (v: unknown): v is OAuthFailure =>
  typeof v === "object" && v !== null && (v as { _tag?: unknown })._tag === "OAuthFailure"

/**
 * Validates registration metadata. On success returns the client record without id or secret;
 * the caller adds them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const validateRegistration = (
  input: unknown,
  policy: RegistrationPolicy,
): Omit<Client, "client_id" | "client_id_issued_at" | "client_secret_hash"> | OAuthFailure => {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return oauth("invalid_client_metadata", "the request body must be a JSON object")
  }
  const body = input as Record<string, unknown>

  const applicationType = body["application_type"] ?? "web"
  if (applicationType !== "web" && applicationType !== "native") {
    return fail("application_type", 'must be "web" or "native"')
  }

  const redirectUris = stringArray(body, "redirect_uris", limits.redirectUris)
  if (isFailure(redirectUris)) return oauth("invalid_redirect_uri", redirectUris.description)
  if (redirectUris === undefined || redirectUris.length === 0) {
    return fail("redirect_uris", "must list at least one URI", "invalid_redirect_uri")
  }
  for (const uri of redirectUris) {
    const why = RedirectUri.validate(uri, applicationType)
    if (why !== undefined)
      return fail(
        "redirect_uris",
        `entry ${JSON.stringify(uri.slice(0, 100))} ${why}`,
        "invalid_redirect_uri",
      )
    if (!policy.allowRedirectUri(uri)) {
      return fail(
        "redirect_uris",
        `entry ${JSON.stringify(uri.slice(0, 100))} is not allowed by this server`,
        "invalid_redirect_uri",
      )
    }
  }

  const grantTypes = stringArray(body, "grant_types", 5)
  if (isFailure(grantTypes)) return grantTypes
  const grants = grantTypes ?? ["authorization_code"]
  for (const g of grants) {
    if (g !== "authorization_code" && g !== "refresh_token") {
      return fail("grant_types", `contains the unsupported grant ${JSON.stringify(g.slice(0, 50))}`)
    }
  }
  if (!grants.includes("authorization_code")) return fail("grant_types", "must include authorization_code")

  const responseTypes = stringArray(body, "response_types", 5)
  if (isFailure(responseTypes)) return responseTypes
  if (responseTypes !== undefined && (responseTypes.length !== 1 || responseTypes[0] !== "code")) {
    return fail("response_types", 'must be ["code"]')
  }

  const authMethod = body["token_endpoint_auth_method"] ?? "client_secret_basic"
  if (authMethod !== "none" && authMethod !== "client_secret_basic" && authMethod !== "client_secret_post") {
    return fail("token_endpoint_auth_method", "must be none, client_secret_basic or client_secret_post")
  }

  const scope = optionalString(body, "scope", limits.scope)
  if (isFailure(scope)) return scope
  if (scope !== undefined && policy.validScopes.length > 0) {
    const outside = Scopes.difference(Scopes.parse(scope), policy.validScopes)
    if (outside.length > 0)
      return fail(
        "scope",
        `contains scopes this server does not offer: ${Scopes.format(outside).slice(0, 200)}`,
      )
  }

  const fields: Record<string, string> = {}
  for (const field of ["client_name", "software_id", "software_version"] as const) {
    const v = optionalString(body, field)
    if (isFailure(v)) return v
    if (v !== undefined) fields[field] = v
  }
  for (const field of ["client_uri", "logo_uri"] as const) {
    const v = httpsUri(body, field)
    if (isFailure(v)) return v
    if (v !== undefined) fields[field] = v
  }

  // After the field checks (their errors name the field); unknown members are dropped, but the
  // bound on the whole document keeps the sum of the stored fields small.
  if (new TextEncoder().encode(JSON.stringify(body)).length > limits.document)
    return oauth(
      "invalid_client_metadata",
      `the registration metadata must be at most ${limits.document} bytes`,
    )

  return {
    redirect_uris: redirectUris,
    grant_types: [...new Set(grants)] as Array<"authorization_code" | "refresh_token">,
    response_types: ["code"],
    token_endpoint_auth_method: authMethod,
    application_type: applicationType,
    ...(scope === undefined ? {} : { scope: Scopes.format(Scopes.parse(scope)) }),
    ...fields,
  }
}

/**
 * The client's registration response (RFC 7591 §3.2.1), without the secret.
 *
 * @category utils
 * @since 0.1.0
 */
export const toRegistrationResponse = (client: Client): Record<string, unknown> => {
  const { client_secret_hash: _, ...rest } = client
  return rest
}

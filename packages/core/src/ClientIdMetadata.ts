/**
 * Client ID Metadata Documents (CIMD): a `client_id` that is an https URL names a JSON document,
 * published by the client, that is its registration. This module holds the pure rules: which
 * `client_id`s are document URLs, how a fetched document becomes a `Client` record (or why not),
 * the cache record, and how long a document may be cached.
 *
 * Pure core. Fetching is the `ClientMetadataFetcher` port; resolution with caching is `Clients`.
 * - The document's `client_id` must equal the URL exactly.
 * - `redirect_uris` follow the same rules as registration (`RedirectUri`).
 * - No shared secrets: `client_secret_*` auth methods and `client_secret` members are refused; a
 *   confidential client uses `private_key_jwt` with `jwks` or `jwks_uri`.
 *
 * @see [draft-ietf-oauth-client-id-metadata-document](https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/)
 * @see MCP SEP-991 (URL-based client registration)
 * @since 0.1.0
 */
import { Schema } from "effect"
import { type OAuthFailure, oauth } from "./OAuthError.ts"
import * as RegisteredClient from "./RegisteredClient.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface UrlPolicy {
  /** Development only: also accept `http://127.0.0.1`, `http://[::1]` and `http://localhost` URLs. */
  readonly allowHttpLoopback?: boolean
}

const maxUrlLength = 1024
const loopbackHosts = new Set(["127.0.0.1", "[::1]", "localhost"])

/**
 * Why `clientId` is not a valid document URL, or `undefined` when it is: https (or loopback http
 * under the development option), a path other than `/`, no dot segments, no fragment, no
 * userinfo, no query, at most 1024 characters, already in canonical form.
 *
 * @category utils
 * @since 0.1.0
 */
export const urlProblem = (clientId: string, policy: UrlPolicy = {}): string | undefined => {
  if (clientId.length > maxUrlLength) return "is too long"
  let url: URL
  try {
    url = new URL(clientId)
  } catch {
    return "is not an absolute URL"
  }
  const loopbackHttp =
    url.protocol === "http:" && loopbackHosts.has(url.hostname) && policy.allowHttpLoopback === true
  if (url.protocol !== "https:" && !loopbackHttp) return "must be an https URL"
  if (url.username !== "" || url.password !== "") return "must not contain userinfo"
  if (clientId.includes("#")) return "must not contain a fragment"
  if (url.search !== "" || clientId.includes("?")) return "must not contain a query"
  if (url.pathname === "/" || url.pathname === "") return "must have a path"
  if (/(^|\/)\.\.?(\/|$)/.test(new URL(clientId).pathname) || /\/\.\.?(\/|$)/.test(clientId))
    return "must not contain dot segments"
  if (url.href !== clientId) return "is not in canonical form"
  return undefined
}

/**
 * `true` when `clientId` looks like a document URL at all (`https://` or `http://`): such ids
 * are never DCR ids, so they are resolved as documents or refused, never looked up in the store.
 *
 * @category utils
 * @since 0.1.0
 */
export const isUrlClientId = (clientId: string): boolean => /^https?:\/\//i.test(clientId)

/**
 * A cached document: the validated client and the times (seconds since the epoch) until which it
 * is fresh, and until which it may still be used when a refetch fails.
 *
 * @category schemas
 * @since 0.1.0
 */
export const CachedDocument = Schema.Struct({
  client: RegisteredClient.Client,
  fetched_at: Schema.Number,
  fresh_until: Schema.Number,
  stale_until: Schema.Number,
})

/**
 * @category models
 * @since 0.1.0
 */
export type CachedDocument = typeof CachedDocument.Type

/**
 * The hosts whose documents are cached, oldest first (see `Clients`' bounds).
 *
 * @category schemas
 * @since 0.1.0
 */
export const CachedHosts = Schema.Struct({ hosts: Schema.Array(Schema.String) })

/**
 * @category models
 * @since 0.1.0
 */
export type CachedHosts = typeof CachedHosts.Type

/**
 * @category models
 * @since 0.1.0
 */
export interface CacheBounds {
  readonly min_seconds: number
  readonly max_seconds: number
  readonly default_seconds: number
}

/**
 * How long a document may be used without refetching, from its `Cache-Control` header, clamped
 * to `[min_seconds, max_seconds]`: `max-age`/`s-maxage` when present, `min_seconds` for
 * `no-store`/`no-cache` (the floor stops a client from making the proxy refetch on every
 * request), `default_seconds` otherwise.
 *
 * @category utils
 * @since 0.1.0
 */
export const freshness = (cacheControl: string | undefined, bounds: CacheBounds): number => {
  const clamp = (n: number) => Math.min(bounds.max_seconds, Math.max(bounds.min_seconds, n))
  if (cacheControl === undefined) return clamp(bounds.default_seconds)
  const directives = cacheControl
    .toLowerCase()
    .split(",")
    .map((d) => d.trim())
  if (directives.some((d) => d === "no-store" || d === "no-cache")) return bounds.min_seconds
  for (const name of ["s-maxage", "max-age"]) {
    const d = directives.find((x) => x.startsWith(`${name}=`))
    if (d !== undefined) {
      const n = Number(d.slice(name.length + 1).replace(/"/g, ""))
      if (Number.isFinite(n) && n >= 0) return clamp(Math.floor(n))
    }
  }
  return clamp(bounds.default_seconds)
}

/**
 * @category models
 * @since 0.1.0
 */
export interface DocumentPolicy extends RegisteredClient.RegistrationPolicy {
  /** The time of the fetch, seconds since the epoch (`client_id_issued_at`). */
  readonly now: number
}

const refusedMembers = ["client_secret", "client_secret_expires_at", "registration_access_token"] as const
const maxKeys = 10

const fail = (why: string) => oauth("invalid_client_metadata", why)

const validateJwks = (jwks: unknown): { keys: Array<Record<string, unknown>> } | OAuthFailure => {
  if (typeof jwks !== "object" || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys))
    return fail("jwks must be a JWK Set")
  const keys = (jwks as { keys: Array<unknown> }).keys
  if (keys.length === 0 || keys.length > maxKeys) return fail(`jwks must hold 1 to ${maxKeys} keys`)
  for (const k of keys) {
    if (typeof k !== "object" || k === null || Array.isArray(k)) return fail("jwks must hold JWK objects")
    const key = k as Record<string, unknown>
    if (key["kty"] === "oct") return fail("jwks must not hold symmetric keys")
    if (["d", "p", "q", "dp", "dq", "qi", "k"].some((m) => m in key))
      return fail("jwks must hold public keys only")
  }
  return { keys: keys as Array<Record<string, unknown>> }
}

/**
 * Turns a fetched document into a client record, or an `invalid_client_metadata` failure naming
 * the rule it breaks. `jwks` is the key set fetched from the document's `jwks_uri`, when it has one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const validate = (
  url: string,
  document: unknown,
  policy: DocumentPolicy,
  fetchedJwks?: unknown,
): RegisteredClient.Client | OAuthFailure => {
  if (typeof document !== "object" || document === null || Array.isArray(document))
    return fail("the client metadata document must be a JSON object")
  const body = document as Record<string, unknown>
  if (body["client_id"] !== url) return fail("the document's client_id must equal its URL exactly")
  for (const m of refusedMembers)
    if (m in body) return fail(`${m} must not appear in a client metadata document`)
  const method = body["token_endpoint_auth_method"] ?? "none"
  if (method !== "none" && method !== "private_key_jwt") {
    return fail(
      typeof method === "string" && method.startsWith("client_secret")
        ? "shared-secret authentication (client_secret_*) is not allowed for a client metadata document"
        : "token_endpoint_auth_method must be none or private_key_jwt",
    )
  }
  const jwksUri = body["jwks_uri"]
  if (jwksUri !== undefined && (typeof jwksUri !== "string" || !jwksUri.startsWith("https://")))
    return fail("jwks_uri must be an https URL")
  if (body["jwks"] !== undefined && jwksUri !== undefined)
    return fail("use either jwks or jwks_uri, not both")
  let jwks: { keys: Array<Record<string, unknown>> } | undefined
  if (method === "private_key_jwt") {
    const source = body["jwks"] ?? fetchedJwks
    if (source === undefined) return fail("private_key_jwt needs jwks or jwks_uri")
    const checked = validateJwks(source)
    if ("_tag" in checked) return checked
    jwks = checked
  }
  // The registration rules (redirect URIs, grants, names, scope) apply as for DCR.
  const validated = RegisteredClient.validateRegistration(
    { ...body, token_endpoint_auth_method: "none" },
    policy,
  )
  if ("_tag" in validated) return validated
  return {
    ...validated,
    token_endpoint_auth_method: method,
    client_id: url,
    client_id_issued_at: policy.now,
    source: "cimd",
    ...(jwks === undefined ? {} : { jwks }),
    ...(typeof jwksUri === "string" && method === "private_key_jwt" ? { jwks_uri: jwksUri } : {}),
  }
}

/**
 * The host a CIMD client is verified to be: the host of its `client_id` URL. Its `client_name`
 * and `logo_uri` are only what that host claims.
 *
 * @category utils
 * @since 0.1.0
 */
export const verifiedHost = (client: RegisteredClient.Client): string | undefined =>
  client.source === "cimd" ? new URL(client.client_id).host : undefined

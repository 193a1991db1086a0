/**
 * OpenID Provider discovery: fetches the upstream IdP's metadata once at startup and checks that
 * it holds what the proxy needs.
 *
 * Adapter over effect's `HttpClient`. Fetches `{issuer}/.well-known/openid-configuration`, decodes
 * it with core's `UpstreamMetadata` and validates `issuer` (exact match) and the endpoints the
 * proxy calls (absolute `https` URLs; `http` only on loopback hosts, for local testing). Every
 * failure is a `DiscoveryError` that names the URL and, for a bad document, the field — a startup
 * error an operator can act on, never a request-time 5xx.
 *
 * @see [OpenID Connect Discovery 1.0 §4](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig)
 * @see [RFC 8414 §3.3](https://www.rfc-editor.org/rfc/rfc8414#section-3.3)
 * @since 0.1.0
 */
import { Upstream } from "@oidc-proxy/core"
import { type Duration, Effect, Schema, SchemaIssue } from "effect"
import { HttpClient } from "effect/http"
import { getJson } from "./internal/httpGet.ts"

/**
 * The upstream's metadata cannot be used: unreachable, not a JSON object, or a required field
 * missing or malformed. `field` names the offending member when the document was read.
 *
 * @category errors
 * @since 0.1.0
 */
export class DiscoveryError extends Schema.TaggedError<DiscoveryError>()("DiscoveryError", {
  /** The discovery URL (or `"(configured metadata)"` when discovery was skipped). */
  url: Schema.String,
  field: Schema.optionalKey(Schema.String),
  description: Schema.String,
}) {
  override get message(): string {
    return this.field === undefined
      ? `upstream discovery failed: ${this.description}`
      : `upstream discovery at ${this.url}: "${this.field}" ${this.description}`
  }
}

/**
 * The discovery URL for `issuer` (OpenID Connect Discovery §4: a trailing `/` is removed first).
 *
 * @category constructors
 * @since 0.1.0
 */
export const discoveryUrl = (issuer: string): string =>
  `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`

/** Hosts where plain http is tolerated: the IdP runs on this machine (tests, local development). */
const loopbackHosts = new Set(["127.0.0.1", "localhost", "[::1]"])

/**
 * Whether `url` may be used as an upstream endpoint: absolute, `https`, or `http` on a loopback
 * host. Returns why not, or `undefined`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const checkEndpoint = (value: string): string | undefined => {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return "is not an absolute URL"
  }
  if (url.protocol === "https:") return undefined
  if (url.protocol === "http:" && loopbackHosts.has(url.hostname)) return undefined
  return url.protocol === "http:"
    ? "must use https (http is allowed only on 127.0.0.1, localhost and ::1)"
    : "must be an https URL"
}

/**
 * An endpoint the proxy may call besides the authorization and token endpoints (which it always
 * needs): which of them must be present depends on the verification strategy.
 *
 * @category models
 * @since 0.1.0
 */
export type Endpoint = "jwks_uri" | "revocation_endpoint" | "userinfo_endpoint" | "introspection_endpoint"

const alwaysRequired = ["authorization_endpoint", "token_endpoint"] as const
const optionalEndpoints: ReadonlyArray<Endpoint> = [
  "jwks_uri",
  "revocation_endpoint",
  "userinfo_endpoint",
  "introspection_endpoint",
]

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const firstIssue = (issue: SchemaIssue.Issue): { field: string; message: string } => {
  const first = formatter(issue).issues[0]
  const field = (first?.path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".")
  return { field: field || "(document)", message: first?.message ?? "is malformed" }
}

/**
 * Validates a metadata document against the configured issuer. Used on the discovered document
 * and on metadata given by hand, so both pass the same checks.
 *
 * Fails with `DiscoveryError` naming the first bad field: `issuer` that differs from `issuer`
 * (exact string comparison), a required endpoint that is missing, not a string or not a usable
 * URL, or any other member of the wrong type.
 *
 * @see [OpenID Connect Discovery 1.0 §4.3](https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfigurationValidation)
 * @category constructors
 * @since 0.1.0
 */
export const validate = (
  issuer: string,
  document: unknown,
  url: string = "(configured metadata)",
  required: ReadonlyArray<Endpoint> = ["jwks_uri"],
): Effect.Effect<Upstream.UpstreamMetadata, DiscoveryError> =>
  Effect.gen(function* () {
    const fail = (field: string | undefined, description: string) =>
      Effect.fail(new DiscoveryError({ url, description, ...(field === undefined ? {} : { field }) }))
    if (typeof document !== "object" || document === null || Array.isArray(document)) {
      return yield* fail(undefined, `${url} did not answer with a JSON object`)
    }
    const doc = document as Record<string, unknown>
    if (doc["issuer"] === undefined) return yield* fail("issuer", "is missing")
    if (doc["issuer"] !== issuer) {
      // Mix-up defence: metadata is only trusted for the issuer we were configured with.
      return yield* fail("issuer", `is ${JSON.stringify(doc["issuer"])}, expected exactly "${issuer}"`)
    }
    for (const field of [...alwaysRequired, ...required]) {
      const value = doc[field]
      if (value === undefined) return yield* fail(field, "is missing")
      if (typeof value !== "string" || value === "") return yield* fail(field, "must be a non-empty string")
      const problem = checkEndpoint(value)
      if (problem !== undefined) return yield* fail(field, problem)
    }
    for (const field of optionalEndpoints) {
      const value = doc[field]
      if (required.includes(field)) continue
      if (value === undefined) continue
      if (typeof value !== "string" || value === "") return yield* fail(field, "must be a non-empty string")
      const problem = checkEndpoint(value)
      if (problem !== undefined) return yield* fail(field, problem)
    }
    return yield* Schema.decodeUnknownEffect(Upstream.UpstreamMetadata)(doc).pipe(
      Effect.mapError((error) => {
        const { field, message } = firstIssue(error.issue)
        return new DiscoveryError({ url, field, description: message })
      }),
    )
  })

/**
 * Fetches and validates the metadata of `issuer`, failing after `timeoutDuration`.
 *
 * Fails with `DiscoveryError`: unreachable IdP, timeout or non-2xx answer (naming the URL), or a
 * document that does not `validate`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const discover = (
  issuer: string,
  options: {
    readonly timeoutDuration?: Duration.Input
    /** Endpoints that must be present (default `jwks_uri`). */
    readonly required?: ReadonlyArray<Endpoint>
    /** Endpoints given by hand: they replace the discovered ones before validation. */
    readonly overrides?: Readonly<Partial<Record<Endpoint, string>>>
    /** The issuer the document must name when it differs from `issuer` (a `{tenantid}` template). */
    readonly expectedIssuer?: string | undefined
  } = {},
): Effect.Effect<Upstream.UpstreamMetadata, DiscoveryError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const url = discoveryUrl(issuer)
    const { json } = yield* getJson(client, url, options.timeoutDuration ?? "5 seconds").pipe(
      Effect.mapError((failure) => new DiscoveryError({ url, description: failure.description })),
    )
    const document =
      options.overrides === undefined || typeof json !== "object" || json === null || Array.isArray(json)
        ? json
        : { ...json, ...options.overrides }
    return yield* validate(options.expectedIssuer ?? issuer, document, url, options.required)
  }).pipe(Effect.withSpan("Discovery.discover", { attributes: { issuer } }))

/**
 * The discovery documents: RFC 8414 authorization-server metadata and RFC 9728
 * protected-resource metadata. They advertise exactly what the flows enforce.
 *
 * Pure core. `client_id_metadata_document_supported` follows the CIMD switch and
 * `registration_endpoint` the DCR switch; `authorization_response_iss_parameter_supported` is
 * always true (RFC 9207).
 *
 * @see [RFC 8414 §2](https://www.rfc-editor.org/rfc/rfc8414#section-2)
 * @see [RFC 9728 §2](https://www.rfc-editor.org/rfc/rfc9728#section-2)
 * @since 0.1.0
 */
import * as Endpoints from "../Endpoints.ts"
import { advertisedScopes, defaultUpstreamAlgorithms, type ProxyConfig } from "../ProxyConfig.ts"

const authMethods = ["none", "client_secret_basic", "client_secret_post"]

/**
 * @category constructors
 * @since 0.1.0
 */
export const authorizationServer = (
  config: ProxyConfig,
  options: {
    readonly jwks?: boolean
    /** `false` when no document fetcher is configured: CIMD is then not advertised. */
    readonly clientIdMetadataDocuments?: boolean
  } = {},
): Record<string, unknown> => {
  const e = Endpoints.make(config)
  const cimd = config.client_id_metadata_documents.enabled && options.clientIdMetadataDocuments !== false
  return {
    issuer: e.issuer,
    authorization_endpoint: e.authorization,
    token_endpoint: e.token,
    ...(config.registration.enabled ? { registration_endpoint: e.registration } : {}),
    revocation_endpoint: e.revocation,
    ...(options.jwks === true ? { jwks_uri: e.jwks } : {}),
    scopes_supported: advertisedScopes(config),
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: cimd ? [...authMethods, "private_key_jwt"] : authMethods,
    revocation_endpoint_auth_methods_supported: cimd ? [...authMethods, "private_key_jwt"] : authMethods,
    ...(cimd
      ? {
          token_endpoint_auth_signing_alg_values_supported: [...defaultUpstreamAlgorithms],
          revocation_endpoint_auth_signing_alg_values_supported: [...defaultUpstreamAlgorithms],
        }
      : {}),
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: cimd,
  }
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const protectedResource = (config: ProxyConfig): Record<string, unknown> => ({
  resource: config.resource,
  authorization_servers: [Endpoints.make(config).issuer],
  scopes_supported: advertisedScopes(config),
  bearer_methods_supported: ["header"],
})

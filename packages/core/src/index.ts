/**
 * @oidc-proxy/core — the pure core of oidc-proxy: domain schemas, scope resolution, the bearer
 * pipeline and the ports adapters implement.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AccessRules from "./AccessRules.ts"
/** @since 0.1.0 */
export * as AccessToken from "./AccessToken.ts"
/** @since 0.1.0 */
export * as AddressPolicy from "./AddressPolicy.ts"
/** @since 0.1.0 */
export * as Admission from "./Admission.ts"
/** @since 0.1.0 */
export * as BearerDecision from "./BearerDecision.ts"
/** @since 0.1.0 */
export * as CacheInvalidation from "./CacheInvalidation.ts"
/** @since 0.1.0 */
export * as ClientAssertion from "./ClientAssertion.ts"
/** @since 0.1.0 */
export * as ClientIdMetadata from "./ClientIdMetadata.ts"
/** @since 0.1.0 */
export * as ClientLookup from "./ClientLookup.ts"
/** @since 0.1.0 */
export * as ClientMetadataFetcher from "./ClientMetadataFetcher.ts"
/** @since 0.1.0 */
export * as Collection from "./Collection.ts"
/** @since 0.1.0 */
export * as DownstreamToken from "./DownstreamToken.ts"
/** @since 0.1.0 */
export * as DownstreamTokenCache from "./DownstreamTokenCache.ts"
/** @since 0.1.0 */
export * as Endpoints from "./Endpoints.ts"
/** @since 0.1.0 */
export * as Entropy from "./Entropy.ts"
/** @since 0.1.0 */
export * as FlowRecords from "./FlowRecords.ts"
/** @since 0.1.0 */
export * as AuthorizationEndpoint from "./flows/AuthorizationEndpoint.ts"
/** @since 0.1.0 */
export * as CallbackEndpoint from "./flows/CallbackEndpoint.ts"
/** @since 0.1.0 */
export * as ClientAuthentication from "./flows/ClientAuthentication.ts"
/** @since 0.1.0 */
export * as Metadata from "./flows/Metadata.ts"
/** @since 0.1.0 */
export * as Outcome from "./flows/Outcome.ts"
/** @since 0.1.0 */
export * as RegisterEndpoint from "./flows/RegisterEndpoint.ts"
/** @since 0.1.0 */
export * as Revocation from "./flows/Revocation.ts"
/** @since 0.1.0 */
export * as RevocationEndpoint from "./flows/RevocationEndpoint.ts"
/** @since 0.1.0 */
export * as TokenEndpoint from "./flows/TokenEndpoint.ts"
/** @since 0.1.0 */
export * as IdentityClaims from "./IdentityClaims.ts"
/** @since 0.1.0 */
export * as IssueAccessToken from "./IssueAccessToken.ts"
/** @since 0.1.0 */
export * as JsonRpc from "./JsonRpc.ts"
/** @since 0.1.0 */
export * as JtiMapping from "./JtiMapping.ts"
/** @since 0.1.0 */
export * as Jwks from "./Jwks.ts"
/** @since 0.1.0 */
export * as LoadAccessToken from "./LoadAccessToken.ts"
/** @since 0.1.0 */
export * as McpEventStreamFilter from "./McpEventStreamFilter.ts"
/** @since 0.1.0 */
export * as McpListFilter from "./McpListFilter.ts"
/** @since 0.1.0 */
export * as McpPolicy from "./McpPolicy.ts"
/** @since 0.1.0 */
export * as MediaType from "./MediaType.ts"
/** @since 0.1.0 */
export * as NetworkVerifier from "./NetworkVerifier.ts"
/** @since 0.1.0 */
export * as OAuthError from "./OAuthError.ts"
/** @since 0.1.0 */
export * as OfflineAccess from "./OfflineAccess.ts"
/** @since 0.1.0 */
export * as Pkce from "./Pkce.ts"
/** @since 0.1.0 */
export * as Providers from "./Providers.ts"
/** @since 0.1.0 */
export * as ProxyConfig from "./ProxyConfig.ts"
/** @since 0.1.0 */
export * as ProxyKeys from "./ProxyKeys.ts"
/** @since 0.1.0 */
export * as ProxyTokenClaims from "./ProxyTokenClaims.ts"
/** @since 0.1.0 */
export * as Quota from "./Quota.ts"
/** @since 0.1.0 */
export * as RedirectUri from "./RedirectUri.ts"
/** @since 0.1.0 */
export * as RegisteredClient from "./RegisteredClient.ts"
/** @since 0.1.0 */
export * as RequestTarget from "./RequestTarget.ts"
/** @since 0.1.0 */
export * as Scopes from "./Scopes.ts"
/** @since 0.1.0 */
export * as StorageKeys from "./StorageKeys.ts"
/** @since 0.1.0 */
export * as Store from "./Store.ts"
/** @since 0.1.0 */
export * as TenantIssuer from "./TenantIssuer.ts"
/** @since 0.1.0 */
export * as TokenStore from "./TokenStore.ts"
/** @since 0.1.0 */
export * as Upstream from "./Upstream.ts"
/** @since 0.1.0 */
export * as UpstreamSession from "./UpstreamSession.ts"
/** @since 0.1.0 */
export * as UpstreamTokenSet from "./UpstreamTokenSet.ts"
/** @since 0.1.0 */
export * as UpstreamVerifier from "./UpstreamVerifier.ts"
/** @since 0.1.0 */
export * as VerificationMode from "./VerificationMode.ts"
/** @since 0.1.0 */
export * as VerifiedClaims from "./VerifiedClaims.ts"
/** @since 0.1.0 */
export * as VerifiedEmail from "./VerifiedEmail.ts"
/** @since 0.1.0 */
export * as VerifiedTokenCache from "./VerifiedTokenCache.ts"

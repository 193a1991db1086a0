/**
 * @oidc-proxy/testbed: real parts for integration tests and demos (a local OpenID Provider, a headless
 * browser, the MCP SDK client run headless, and a small MCP server).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ClientMetadataDocumentServer from "./ClientMetadataDocumentServer.ts"
/** @since 0.1.0 */
export * as GatewayProcess from "./GatewayProcess.ts"
/** @since 0.1.0 */
export * as GitHubStandIn from "./GitHubStandIn.ts"
/** @since 0.1.0 */
export * as Glewlwyd from "./Glewlwyd.ts"
/** @since 0.1.0 */
export * as HeadlessBrowser from "./HeadlessBrowser.ts"
/** @since 0.1.0 */
export * as LocalIdp from "./LocalIdp.ts"
export * as LocalIdpGateway from "./LocalIdpGateway.ts"
/** @since 0.1.0 */
export * as McpClient from "./McpClient.ts"
/** @since 0.1.0 */
export * as McpServer from "./McpServer.ts"
/** @since 0.1.0 */
export * as Polling from "./Polling.ts"
/** @since 0.1.0 */
export * as Ports from "./Ports.ts"
/** @since 0.1.0 */
export * as Transcript from "./Transcript.ts"

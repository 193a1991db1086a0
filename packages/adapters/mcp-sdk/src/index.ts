/**
 * @oidc-proxy/mcp-sdk — oidc-proxy for MCP servers built on `@modelcontextprotocol/sdk` with
 * Express: the proxy's authorization server in-process and its bearer check as the SDK's
 * `OAuthTokenVerifier`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as McpSdkProxy from "./McpSdkProxy.ts"
/** @since 0.1.0 */
export * as McpSdkRouter from "./McpSdkRouter.ts"
/** @since 0.1.0 */
export * as McpSdkVerifier from "./McpSdkVerifier.ts"

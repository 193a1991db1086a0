/**
 * The real MCP SDK client (`@modelcontextprotocol/sdk` 1.x), run headless through an OAuth flow.
 *
 * Testing adapter. {@link HeadlessOAuthProvider} implements the SDK's `OAuthClientProvider` in memory and
 * plays the user's browser with {@link HeadlessBrowser}: its `redirectToAuthorization` walks the login and
 * consent pages and captures the `code` at a loopback redirect_uri that is never listened on (RFC 8252
 * §7.3). Every HTTP exchange, of the SDK and of the browser, lands in one transcript.
 *
 * @since 0.1.0
 */

import {
  type AuthResult,
  auth,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
  UnauthorizedError,
} from "@modelcontextprotocol/sdk/client/auth.js"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js"
import type { Implementation } from "@modelcontextprotocol/sdk/types.js"
import { HeadlessBrowser, oidcProviderDevInteractions, type PageHandler } from "./HeadlessBrowser.ts"
import { recordingFetch, type TranscriptEntry } from "./Transcript.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface HeadlessOAuthProviderOptions {
  /** Loopback redirect_uri, never listened on; default `http://127.0.0.1:8976/callback`. */
  readonly redirectUrl?: string
  /** Default `oidc-proxy testbed`. */
  readonly clientName?: string
  /** `scope` of the client metadata (the SDK's last-resort scope choice, SEP-835). */
  readonly scope?: string
  /** Overrides merged over the default DCR metadata. */
  readonly clientMetadata?: Partial<OAuthClientMetadata>
  /**
   * A Client ID Metadata Document URL (SEP-991): the SDK uses it as the `client_id` instead of DCR
   * when the server advertises `client_id_metadata_document_supported`.
   */
  readonly clientMetadataUrl?: string
  /** Pre-registered client: when given, the SDK skips DCR. */
  readonly clientInformation?: OAuthClientInformationMixed
  /** Page handler for login/consent; default: oidc-provider's dev pages as `ada`. */
  readonly interact?: PageHandler
  /** Browser to use (share one to keep an IdP session); default a new one on the same transcript. */
  readonly browser?: HeadlessBrowser
  /** Transcript to append to; default the browser's, else a fresh one. */
  readonly transcript?: TranscriptEntry[]
}

/**
 * An in-memory `OAuthClientProvider` that completes authorization by itself.
 *
 * @category constructors
 * @since 0.1.0
 */
export class HeadlessOAuthProvider implements OAuthClientProvider {
  readonly transcript: TranscriptEntry[]
  readonly browser: HeadlessBrowser
  /** Recording fetch: pass it to transports and `auth()` so their requests reach the transcript. */
  readonly fetch: typeof fetch
  /** Every client information saved: one per DCR (or per re-stamp of a pre-registered client). */
  readonly savedClients: OAuthClientInformationMixed[] = []
  /** Every authorization URL the SDK opened, in order. */
  readonly authorizationUrls: URL[] = []
  /** The Client ID Metadata Document URL used as `client_id`, when configured (SEP-991). */
  readonly clientMetadataUrl?: string
  /** The last redirect_uri hit, with `code`, `state` (and `iss` if the AS sends it). */
  lastCallback: URL | undefined
  readonly #options: HeadlessOAuthProviderOptions
  #client: OAuthClientInformationMixed | undefined
  #tokens: OAuthTokens | undefined
  #verifier: string | undefined
  #state: string | undefined
  #code: string | undefined
  #discovery: OAuthDiscoveryState | undefined

  constructor(options: HeadlessOAuthProviderOptions = {}) {
    this.#options = options
    this.transcript = options.transcript ?? options.browser?.transcript ?? []
    this.browser = options.browser ?? new HeadlessBrowser({ transcript: this.transcript })
    this.fetch = recordingFetch(this.transcript)
    this.#client = options.clientInformation
    if (options.clientMetadataUrl !== undefined) this.clientMetadataUrl = options.clientMetadataUrl
  }

  get redirectUrl(): string {
    return this.#options.redirectUrl ?? "http://127.0.0.1:8976/callback"
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.#options.clientName ?? "oidc-proxy testbed",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      ...(this.#options.scope === undefined ? {} : { scope: this.#options.scope }),
      ...this.#options.clientMetadata,
    }
  }

  state(): string {
    this.#state = crypto.randomUUID()
    return this.#state
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.#client
  }

  saveClientInformation(info: OAuthClientInformationMixed): void {
    // Kept unchanged: SDK 1.32 stamps `issuer` into it and compares on read.
    this.#client = info
    this.savedClients.push(info)
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens
  }

  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier
  }

  codeVerifier(): string {
    if (this.#verifier === undefined) throw new Error("HeadlessOAuthProvider: no code verifier saved")
    return this.#verifier
  }

  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.#discovery = state
  }

  discoveryState(): OAuthDiscoveryState | undefined {
    return this.#discovery
  }

  invalidateCredentials(scope: "all" | "client" | "tokens" | "verifier" | "discovery"): void {
    if (scope === "all" || scope === "client") this.#client = undefined
    if (scope === "all" || scope === "tokens") this.#tokens = undefined
    if (scope === "all" || scope === "verifier") this.#verifier = undefined
    if (scope === "all" || scope === "discovery") this.#discovery = undefined
  }

  /**
   * Acts as the user agent: walks login/consent pages until the redirect_uri, checks `state` (the SDK never
   * does, see the reference notes) and keeps the `code` for {@link takeAuthorizationCode}.
   */
  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    this.authorizationUrls.push(new URL(authorizationUrl))
    const redirect = new URL(this.redirectUrl)
    const callback = await this.browser.drive(authorizationUrl, {
      stopAt: (url) => url.origin === redirect.origin && url.pathname === redirect.pathname,
      onPage: this.#options.interact ?? oidcProviderDevInteractions({ login: "ada" }),
    })
    this.lastCallback = callback
    if (callback.searchParams.get("state") !== this.#state) {
      throw new Error("HeadlessOAuthProvider: state mismatch at the redirect_uri")
    }
    const error = callback.searchParams.get("error")
    if (error !== null) {
      throw new Error(
        `HeadlessOAuthProvider: authorization failed: ${error} ${callback.searchParams.get("error_description") ?? ""}`,
      )
    }
    this.#code = callback.searchParams.get("code") ?? undefined
  }

  /** Returns the captured authorization code once; fails if there is none. */
  takeAuthorizationCode(): string {
    const code = this.#code
    if (code === undefined) throw new Error("HeadlessOAuthProvider: no authorization code captured")
    this.#code = undefined
    return code
  }

  /**
   * Transcript entries that went to the registration endpoint (DCR, RFC 7591): the AS metadata's
   * `registration_endpoint`, else the SDK's `/register` fallback.
   */
  registrationRequests(): ReadonlyArray<TranscriptEntry> {
    const endpoint = this.#discovery?.authorizationServerMetadata?.registration_endpoint
    return this.transcript.filter((entry) => {
      if (entry.method !== "POST") return false
      const url = new URL(entry.url)
      return endpoint === undefined ? url.pathname.endsWith("/register") : url.href === new URL(endpoint).href
    })
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface ConnectOptions extends HeadlessOAuthProviderOptions {
  /** Reuse a provider (its tokens and client registration); default a new one from these options. */
  readonly provider?: HeadlessOAuthProvider
  /** Default `{ name: "oidc-proxy-testbed-client", version: "0.1.0" }`. */
  readonly clientInfo?: Implementation
  /** Extra request options for every MCP request (for example custom headers). */
  readonly requestInit?: RequestInit
}

/**
 * One JSON-RPC request POSTed to `mcpUrl` with `token` as the bearer, outside the SDK: for the
 * status or the body of one answer (`id` 1 unless given).
 *
 * @since 0.1.0
 */
export const postJsonRpc = (
  mcpUrl: string | URL,
  token: string,
  message: { readonly method: string; readonly params?: unknown; readonly id?: number },
): Promise<Response> =>
  fetch(mcpUrl, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: message.id ?? 1,
      method: message.method,
      ...(message.params === undefined ? {} : { params: message.params }),
    }),
  })

/**
 * Connects the real MCP client to `serverUrl`, doing OAuth on the way if the server demands it: connect →
 * `UnauthorizedError` (the SDK discovered, registered and "opened the browser") → `finishAuth(code)` →
 * connect again on a fresh transport (a started transport cannot be restarted). Without a 401 it simply
 * connects.
 *
 * Fails with the SDK's errors, or when the browser gets stuck on a page.
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectWithOAuth = async (
  serverUrl: string | URL,
  options: ConnectOptions = {},
): Promise<{ readonly client: Client; readonly provider: HeadlessOAuthProvider }> => {
  const provider = options.provider ?? new HeadlessOAuthProvider(options)
  const clientInfo = options.clientInfo ?? { name: "oidc-proxy-testbed-client", version: "0.1.0" }
  const transport = () =>
    new StreamableHTTPClientTransport(new URL(serverUrl), {
      authProvider: provider,
      fetch: provider.fetch,
      ...(options.requestInit === undefined ? {} : { requestInit: options.requestInit }),
    })
  const first = transport()
  const client = new Client(clientInfo)
  try {
    await client.connect(first)
    return { client, provider }
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error
  }
  // The transport that saw the 401 knows its resource_metadata URL and challenged scope; finish there.
  await first.finishAuth(provider.takeAuthorizationCode())
  await client.close()
  const authorized = new Client(clientInfo)
  await authorized.connect(transport())
  return { client: authorized, provider }
}

/**
 * The SDK's `auth()` path without an MCP transport: `auth()` → `REDIRECT` (the browser ran), then
 * `auth({ authorizationCode })` → `AUTHORIZED`. Calling it again with stored tokens refreshes them. Works
 * against a bare OpenID Provider too (the SDK falls back to the server's origin as the authorization server).
 *
 * @category constructors
 * @since 0.1.0
 */
export const authorizeWithSdk = async (
  serverUrl: string | URL,
  provider: HeadlessOAuthProvider,
  options: { readonly scope?: string } = {},
): Promise<AuthResult> => {
  const base = {
    serverUrl,
    fetchFn: provider.fetch,
    ...(options.scope === undefined ? {} : { scope: options.scope }),
  }
  const result = await auth(provider, base)
  if (result === "AUTHORIZED") return result
  return auth(provider, { ...base, authorizationCode: provider.takeAuthorizationCode() })
}

/**
 * Connects the real MCP client to `serverUrl` with an access token obtained elsewhere, sent as
 * `Authorization: Bearer` on every request (no OAuth flow).
 *
 * @category constructors
 * @since 0.1.0
 */
export const connectWithBearer = async (serverUrl: string | URL, accessToken: string): Promise<Client> => {
  const client = new Client({ name: "oidc-proxy-testbed-client", version: "0.1.0" })
  await client.connect(
    new StreamableHTTPClientTransport(new URL(serverUrl), {
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    }),
  )
  return client
}

/**
 * Client authentication at the token and revocation endpoints: `none`, `client_secret_basic`,
 * `client_secret_post`.
 *
 * Effect over ports (TokenStore, StorageKeys). A client must use the method it registered; a
 * secret is compared by keyed hash in constant time. Every failure is `invalid_client` (401), with
 * `basic` set when HTTP Basic was tried so the edge adds `WWW-Authenticate: Basic`.
 *
 * @see [RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import type { Client } from "../Client.ts"
import { OAuthFailure, type StoreError } from "../OAuthError.ts"
import { constantTimeEqual } from "../Pkce.ts"
import { StorageKeys } from "../StorageKeys.ts"
import { TokenStore } from "../TokenStore.ts"

/**
 * The credentials a request presented.
 *
 * @category models
 * @since 0.1.0
 */
export interface Credentials {
  /** The `Authorization` header, if any. */
  readonly authorization: string | undefined
  readonly client_id: string | undefined
  readonly client_secret: string | undefined
}

const invalidClient = (description: string, basic: boolean) =>
  new OAuthFailure({ error: "invalid_client", description, ...(basic ? { basic: true } : {}) })

const parseBasic = (header: string): { id: string; secret: string } | undefined => {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (m === null) return undefined
  let decoded: string
  try {
    decoded = atob(m[1]!)
  } catch {
    return undefined
  }
  const i = decoded.indexOf(":")
  if (i < 0) return undefined
  try {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return {
      id: decodeURIComponent(decoded.slice(0, i).replace(/\+/g, " ")),
      secret: decodeURIComponent(decoded.slice(i + 1).replace(/\+/g, " ")),
    }
  } catch {
    return undefined
  }
}

/**
 * Authenticates the client of a request and returns its record.
 *
 * @category constructors
 * @since 0.1.0
 */
export const authenticate = (
  credentials: Credentials,
): Effect.Effect<Client, OAuthFailure | StoreError, TokenStore | StorageKeys> =>
  Effect.gen(function* () {
    const basicHeader =
      credentials.authorization !== undefined && /^Basic(\s|$)/i.test(credentials.authorization)
        ? credentials.authorization
        : undefined
    const basic = basicHeader === undefined ? undefined : parseBasic(basicHeader)
    if (basicHeader !== undefined && basic === undefined) {
      return yield* invalidClient("The Basic authorization header is malformed", true)
    }
    if (basic !== undefined && credentials.client_secret !== undefined) {
      return yield* invalidClient("Use exactly one client authentication method", true)
    }
    if (basic !== undefined && credentials.client_id !== undefined && credentials.client_id !== basic.id) {
      return yield* invalidClient("client_id does not match the Basic credentials", true)
    }
    const clientId = basic?.id ?? credentials.client_id
    if (clientId === undefined || clientId === "") {
      return yield* invalidClient("Client authentication is required (client_id)", false)
    }
    const found = yield* (yield* TokenStore).clients.get(clientId)
    if (Option.isNone(found)) return yield* invalidClient("Unknown client", basic !== undefined)
    const client = found.value
    const method =
      basic !== undefined
        ? "client_secret_basic"
        : credentials.client_secret !== undefined
          ? "client_secret_post"
          : "none"
    if (method !== client.token_endpoint_auth_method) {
      return yield* invalidClient(
        `The client must authenticate with ${client.token_endpoint_auth_method}`,
        basic !== undefined || client.token_endpoint_auth_method === "client_secret_basic",
      )
    }
    if (method !== "none") {
      const presented = yield* (yield* StorageKeys).hash(basic?.secret ?? credentials.client_secret ?? "")
      if (
        client.client_secret_hash === undefined ||
        !constantTimeEqual(presented, client.client_secret_hash)
      ) {
        return yield* invalidClient("Client authentication failed", basic !== undefined)
      }
    }
    return client
  })

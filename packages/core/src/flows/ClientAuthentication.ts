/**
 * Client authentication at the token and revocation endpoints: `none`, `client_secret_basic`,
 * `client_secret_post`, and — for Client ID Metadata Document clients — `private_key_jwt`.
 *
 * Effect over ports (TokenStore, StorageKeys). A client must use the method it registered; a
 * secret is compared by keyed hash in constant time, under every configured storage key (so a
 * rotation of the master secret keeps registered clients working). Every failure is `invalid_client` (401), with
 * `basic` set when HTTP Basic was tried so the edge adds `WWW-Authenticate: Basic`.
 *
 * @see [RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import { decodeJwt } from "jose"
import * as ClientAssertion from "../ClientAssertion.ts"
import * as ClientLookup from "../ClientLookup.ts"
import { constantTimeEqual } from "../internal/constantTime.ts"
import { OAuthFailure, type StoreError } from "../OAuthError.ts"
import type { Settings } from "../ProxyConfig.ts"
import type { Client } from "../RegisteredClient.ts"
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
  /** RFC 7523 `client_assertion_type` (form), for `private_key_jwt`. */
  readonly client_assertion_type?: string | undefined
  /** RFC 7523 `client_assertion` (form), for `private_key_jwt`. */
  readonly client_assertion?: string | undefined
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

/** The `client_id` an assertion names, when the form does not (RFC 7523 §3: `sub`). */
const assertionSubject = (assertion: string): string | undefined => {
  try {
    const sub = decodeJwt(assertion).sub
    return typeof sub === "string" ? sub : undefined
  } catch {
    return undefined
  }
}

const authenticateWith = <R>(
  credentials: Credentials,
  lookup: (clientId: string) => Effect.Effect<Option.Option<Client>, OAuthFailure | StoreError, R>,
  assertions: boolean,
): Effect.Effect<Client, OAuthFailure | StoreError, R | TokenStore | StorageKeys | Settings> =>
  Effect.gen(function* () {
    const basicHeader =
      credentials.authorization !== undefined && /^Basic(\s|$)/i.test(credentials.authorization)
        ? credentials.authorization
        : undefined
    const basic = basicHeader === undefined ? undefined : parseBasic(basicHeader)
    if (basicHeader !== undefined && basic === undefined) {
      return yield* invalidClient("The Basic authorization header is malformed", true)
    }
    const assertion =
      assertions &&
      (credentials.client_assertion !== undefined || credentials.client_assertion_type !== undefined)
    if (assertion) {
      if (credentials.client_assertion_type !== ClientAssertion.assertionType)
        return yield* invalidClient(`client_assertion_type must be ${ClientAssertion.assertionType}`, false)
      if (credentials.client_assertion === undefined || credentials.client_assertion === "")
        return yield* invalidClient("client_assertion is required", false)
    }
    if (
      (basic !== undefined ? 1 : 0) +
        (credentials.client_secret !== undefined ? 1 : 0) +
        (assertion ? 1 : 0) >
      1
    ) {
      return yield* invalidClient("Use exactly one client authentication method", basic !== undefined)
    }
    if (basic !== undefined && credentials.client_id !== undefined && credentials.client_id !== basic.id) {
      return yield* invalidClient("client_id does not match the Basic credentials", true)
    }
    const clientId =
      basic?.id ??
      credentials.client_id ??
      (assertion ? assertionSubject(credentials.client_assertion ?? "") : undefined)
    if (clientId === undefined || clientId === "") {
      return yield* invalidClient("Client authentication is required (client_id)", false)
    }
    const found = yield* lookup(clientId)
    if (Option.isNone(found)) return yield* invalidClient("Unknown client", basic !== undefined)
    const client = found.value
    const method = assertion
      ? "private_key_jwt"
      : basic !== undefined
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
    if (method === "private_key_jwt") {
      yield* ClientAssertion.verify(client, credentials.client_assertion ?? "")
    } else if (method !== "none") {
      // Under every configured key: a secret registered before a rotation still authenticates.
      const presented = yield* (yield* StorageKeys).hashes(basic?.secret ?? credentials.client_secret ?? "")
      const stored = client.client_secret_hash
      if (stored === undefined || !presented.some((h) => constantTimeEqual(h, stored))) {
        return yield* invalidClient("Client authentication failed", basic !== undefined)
      }
    }
    return client
  })

/**
 * Authenticates the client of a request against the registered (DCR) clients only and returns
 * its record. `authenticateRequest` also knows Client ID Metadata Document clients.
 *
 * @category constructors
 * @since 0.1.0
 */
export const authenticate = (
  credentials: Credentials,
): Effect.Effect<Client, OAuthFailure | StoreError, TokenStore | StorageKeys> =>
  authenticateWith(
    credentials,
    (id) =>
      Effect.gen(function* () {
        return yield* (yield* TokenStore).clients.get(id)
      }),
    false,
  ) as Effect.Effect<Client, OAuthFailure | StoreError, TokenStore | StorageKeys>

/**
 * Authenticates the client of a request — registered, or a Client ID Metadata Document client
 * (`none` or `private_key_jwt`) — and returns its record. Fails with `invalid_client`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const authenticateRequest = (
  credentials: Credentials,
): Effect.Effect<Client, OAuthFailure | StoreError, TokenStore | StorageKeys | Settings> =>
  authenticateWith(credentials, ClientLookup.find, true)

/**
 * HTTP Basic client authentication (RFC 6749 §2.3.1) whose credentials are form-urlencoded the way
 * the WHATWG URL standard serializes `application/x-www-form-urlencoded`: letters, digits and
 * `*-._` are sent as they are, everything else is escaped (space as `+`).
 *
 * Internal. The one encoder of every upstream `Authorization: Basic` header built from the
 * proxy's client credentials — the token endpoint, revocation, introspection and token exchange —
 * so an IdP sees the same credentials on each (an `encodeURIComponent` variant leaves `!~'()`
 * unescaped: a server that compares without decoding would accept `/token` and refuse
 * introspection). oauth4webapi's `ClientSecretBasic` also escapes `-`, `_`, `.`, `!`, `~`, `*`,
 * `'`, `(` and `)`, which a server that form-decodes reads back the same — but some servers never
 * decode (glewlwyd 2.7 compares `oidc%2Dproxy` with `oidc-proxy` and answers `invalid_client`).
 * Leaving the characters that decode to themselves unescaped gives both kinds of server the same
 * credentials. GitHub's REST API (`DELETE /applications/{client_id}/token`) is not an OAuth
 * endpoint: it reads plain RFC 7617 Basic credentials, hence `plainBasicAuthorization`.
 *
 * @since 0.1.0
 */
import type * as oauth from "oauth4webapi"

const formEncode = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)

/** `Basic <base64(form(client_id) ":" form(secret))>` (RFC 6749 §2.3.1); ASCII, so `btoa` takes it. */
export const basicAuthorization = (clientId: string, secret: string): string =>
  `Basic ${btoa(`${formEncode(clientId)}:${formEncode(secret)}`)}`

/** `Basic <base64(utf8(client_id ":" secret))>` (RFC 7617, no form-encoding): GitHub's REST API. */
export const plainBasicAuthorization = (clientId: string, secret: string): string =>
  `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${clientId}:${secret}`)))}`

/** The `Authorization: Basic …` client authentication with `secret`, for oauth4webapi. */
export const clientSecretBasic =
  (secret: string): oauth.ClientAuth =>
  (_as, client, _body, headers) => {
    headers.set("authorization", basicAuthorization(client.client_id, secret))
  }

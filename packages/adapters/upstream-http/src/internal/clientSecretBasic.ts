/**
 * HTTP Basic client authentication (RFC 6749 §2.3.1) whose credentials are form-urlencoded the way
 * the WHATWG URL standard serializes `application/x-www-form-urlencoded`: letters, digits and
 * `*-._` are sent as they are, everything else is escaped (space as `+`).
 *
 * Internal. oauth4webapi's `ClientSecretBasic` also escapes `-`, `_`, `.`, `!`, `~`, `*`, `'`, `(`
 * and `)`, which a server that form-decodes reads back the same — but some servers never decode
 * (glewlwyd 2.7 compares `oidc%2Dproxy` with `oidc-proxy` and answers `invalid_client`). Leaving
 * the characters that decode to themselves unescaped gives both kinds of server the same
 * credentials.
 *
 * @since 0.1.0
 */
import type * as oauth from "oauth4webapi"

const formEncode = (value: string): string => new URLSearchParams([["", value]]).toString().slice(1)

/** The `Authorization: Basic …` client authentication with `secret`. */
export const clientSecretBasic =
  (secret: string): oauth.ClientAuth =>
  (_as, client, _body, headers) => {
    headers.set("authorization", `Basic ${btoa(`${formEncode(client.client_id)}:${formEncode(secret)}`)}`)
  }

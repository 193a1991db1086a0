/**
 * The consent rules: when the user is asked, what the page shows, and what is remembered.
 *
 * Effect over ports (Settings, TokenStore, UpstreamClient). The modes (`ProxyConfig.consent`):
 * - `always`: every sign-in shows the page;
 * - `remember`: the page is skipped when this browser approved this client for at least these
 *   scopes before — keyed by the server-minted browser id only (a caller-chosen or planted id never
 *   skips it, see `Browser`), kept as long as a refresh token lives;
 * - `off`: no page; the only mode in which a re-authorization carries the earlier grant over
 *   (step-up union, `CallbackEndpoint`), because nothing was shown that it could exceed.
 * The page lists exactly the scopes the code will carry (issue 20, finding 10): the client, its
 * verified host, the redirect host and the scopes, with a CSRF token and the form targets the CSP
 * allows.
 *
 * @since 0.1.0
 */
import { Effect, Option } from "effect"
import * as ClientIdMetadata from "../ClientIdMetadata.ts"
import * as Endpoints from "../Endpoints.ts"
import type { Transaction } from "../FlowRecords.ts"
import { type ProxyConfig, Settings } from "../ProxyConfig.ts"
import type { Client } from "../RegisteredClient.ts"
import * as Scopes from "../Scopes.ts"
import { TokenStore } from "../TokenStore.ts"
import { UpstreamClient } from "../Upstream.ts"
import type * as Outcome from "./Outcome.ts"

/** Where a remembered consent is kept: per client and server-minted browser id. */
const rememberKey = (clientId: string, browser: string) => `${clientId}|${browser}`

/**
 * Whether a sign-in needs no page: consent is `off`, or `remember` finds an earlier approval of
 * this client by this browser covering `scope`. `browser` is a browser id the server minted on an
 * earlier request (`undefined` for one minted just now, which has approved nothing).
 *
 * @category utils
 * @since 0.1.0
 */
export const isGiven = (clientId: string, browser: string | undefined, scope: Scopes.ScopeSet) =>
  Effect.gen(function* () {
    const config = yield* Settings
    if (config.consent === "off") return true
    if (config.consent !== "remember" || browser === undefined) return false
    const remembered = yield* (yield* TokenStore).consents.get(rememberKey(clientId, browser))
    return Option.isSome(remembered) && Scopes.isSubset(scope, remembered.value.scope)
  })

/**
 * Records an approval on the page, in `remember` mode, for `browser` (the server-minted id the
 * binding check just verified); nothing in the other modes.
 *
 * @category utils
 * @since 0.1.0
 */
export const remember = (transaction: Transaction, browser: string | undefined) =>
  Effect.gen(function* () {
    const config = yield* Settings
    if (config.consent !== "remember" || browser === undefined) return
    yield* (yield* TokenStore).consents.set(
      rememberKey(transaction.client_id, browser),
      { client_id: transaction.client_id, scope: transaction.scope },
      `${config.ttl.refresh_token} seconds`,
    )
  })

/**
 * Whether a re-authorization may carry the earlier grant over: only when no page is shown, so no
 * scope reaches a code that the user was not shown.
 *
 * @category utils
 * @since 0.1.0
 */
export const carriesEarlierGrant = (config: ProxyConfig): boolean => config.consent === "off"

/**
 * The consent page for a stored transaction: what it shows is what the code will carry.
 *
 * @category constructors
 * @since 0.1.0
 */
export const page = (
  config: ProxyConfig,
  client: Client,
  transactionId: string,
  transaction: Transaction,
  cookies: ReadonlyArray<Outcome.Cookie>,
) =>
  Effect.gen(function* () {
    const upstream = yield* UpstreamClient
    const redirect = new URL(transaction.redirect_uri)
    const clientHost = ClientIdMetadata.verifiedHost(client)
    const view: Outcome.ConsentView = {
      action: Endpoints.make(config).consent,
      transaction: transactionId,
      csrf: transaction.csrf,
      clientId: client.client_id,
      clientName: client.client_name,
      clientUri: client.client_uri,
      redirectUri: transaction.redirect_uri,
      redirectHost: redirect.host || redirect.protocol,
      scopes: transaction.scope,
      ...(clientHost === undefined ? {} : { clientHost }),
      ...(client.logo_uri === undefined ? {} : { logoUri: client.logo_uri }),
      formTargets: [
        new URL(upstream.metadata.authorization_endpoint).origin,
        redirect.origin === "null" ? redirect.protocol : redirect.origin,
      ],
    }
    return { _tag: "ConsentPage", view, cookies } satisfies Outcome.Outcome as Outcome.Outcome
  })

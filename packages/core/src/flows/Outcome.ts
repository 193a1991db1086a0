/**
 * What an authorization-server flow answers, before it becomes an HTTP response: JSON, a
 * redirect, the consent page or an error page. The HTTP edge renders these; flows never touch
 * `Response`.
 *
 * Pure core (types only).
 *
 * @since 0.1.0
 */

/**
 * A cookie to set (`maxAge` 0 deletes it).
 *
 * @category models
 * @since 0.1.0
 */
export interface Cookie {
  readonly name: string
  readonly value: string
  /** Seconds. */
  readonly maxAge: number
  readonly path: string
}

/**
 * What the consent page shows.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsentView {
  readonly action: string
  readonly transaction: string
  readonly csrf: string
  readonly clientId: string
  readonly clientName: string | undefined
  readonly clientUri: string | undefined
  readonly redirectUri: string
  readonly redirectHost: string
  readonly scopes: ReadonlyArray<string>
  /**
   * For a Client ID Metadata Document client: the host of its `client_id` URL, the identity the
   * proxy verified (it fetched the document there). Name and logo are only that host's claims.
   */
  readonly clientHost?: string
  /** The client's `logo_uri` (a claim of the client). */
  readonly logoUri?: string
  /** Origins the form's redirects go to (for the page's CSP `form-action`). */
  readonly formTargets: ReadonlyArray<string>
}

/**
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | {
      readonly _tag: "Json"
      readonly status: number
      readonly body: unknown
      readonly headers?: Readonly<Record<string, string>>
    }
  | { readonly _tag: "Redirect"; readonly location: string; readonly cookies: ReadonlyArray<Cookie> }
  | { readonly _tag: "ConsentPage"; readonly view: ConsentView; readonly cookies: ReadonlyArray<Cookie> }

/**
 * @category constructors
 * @since 0.1.0
 */
export const json = (status: number, body: unknown, headers?: Record<string, string>): Outcome => ({
  _tag: "Json",
  status,
  body,
  ...(headers === undefined ? {} : { headers }),
})

/**
 * @category constructors
 * @since 0.1.0
 */
export const redirect = (location: string, cookies: ReadonlyArray<Cookie> = []): Outcome => ({
  _tag: "Redirect",
  location,
  cookies,
})

/**
 * A client redirect URI with response parameters appended (RFC 6749 §4.1.2), always carrying
 * `iss` (RFC 9207).
 *
 * @category constructors
 * @since 0.1.0
 */
export const withParams = (redirectUri: string, params: Record<string, string | undefined>): string => {
  const url = new URL(redirectUri)
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.append(k, v)
  return url.href
}

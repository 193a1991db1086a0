/**
 * A local stand-in for GitHub as an OAuth provider, written from GitHub's public documentation:
 * the web flow (`/login/oauth/authorize`, `/login/oauth/access_token`) and the REST API under
 * `/api` (`GET /user`, `/user/emails`, `/user/orgs`, `DELETE /applications/{client_id}/token`).
 *
 * Test fixture (node:http on 127.0.0.1). What it reproduces: a token answer form-encoded unless the
 * request accepts `application/json`, with scopes comma-separated; errors (`bad_verification_code`,
 * `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_refresh_token`) delivered with
 * HTTP 200; PKCE (S256) when the authorization request carried a challenge; `/user` refusing a
 * request without `User-Agent` (403) and an unknown token (401 "Bad credentials"), and answering
 * `X-OAuth-Scopes`; `/user/emails` only with `user:email` or `user`; `/user/orgs` listing private
 * memberships only with `read:org`, paginated as GitHub does (`per_page`, `page`, a `Link` header); the application-token DELETE with Basic client credentials
 * (204, then the token is dead; 404 for an unknown token, 422 without one); GitHub App expiring
 * tokens (`expires_in`, a rotating `refresh_token`, `refresh_token_expires_in`, an empty scope and
 * `X-OAuth-Scopes`: such tokens have the app's permissions, assumed to include emails) when asked. The
 * browser is treated as signed in to GitHub as `signedIn` with the app already authorized, so the
 * authorization request redirects straight back.
 *
 * @see [Authorizing OAuth apps](https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps)
 * @see [Refreshing user access tokens](https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens)
 * @see [Delete an app token](https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-token)
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { close, listen } from "./internal/net.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface User {
  readonly id: number
  readonly emails: ReadonlyArray<{
    readonly email: string
    readonly primary: boolean
    readonly verified: boolean
  }>
  /** Organization logins; `public: false` memberships are listed only with `read:org`. */
  readonly orgs?: ReadonlyArray<{ readonly login: string; readonly public: boolean }>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly clientId: string
  readonly clientSecret: string
  /** Users by login. */
  readonly users: Readonly<Record<string, User>>
  /**
   * GitHub App with expiring user tokens: access tokens live this many seconds and come with a
   * rotating refresh token. Default: OAuth App tokens (no expiry, no refresh token).
   */
  readonly expiresIn?: number
}

/**
 * One page of `items` as GitHub's REST API pages a list: `per_page` (default 30, at most 100) and
 * `page` (from 1), with an RFC 8288 `Link` header naming the `next`, `last`, `first` and `prev`
 * pages (absolute URLs on `base`) when there is more than one.
 *
 * @see [Using pagination in the REST API](https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api)
 * @category utils
 * @since 0.1.0
 */
export const paginate = <A>(
  items: ReadonlyArray<A>,
  query: URLSearchParams,
  base: string,
): { readonly items: ReadonlyArray<A>; readonly link: string | undefined } => {
  const perPage = Math.min(100, Math.max(1, Number.parseInt(query.get("per_page") ?? "30", 10) || 30))
  const page = Math.max(1, Number.parseInt(query.get("page") ?? "1", 10) || 1)
  const last = Math.max(1, Math.ceil(items.length / perPage))
  const at = (n: number) => `<${base}?per_page=${perPage}&page=${n}>`
  const rels = [
    ...(page < last ? [`${at(page + 1)}; rel="next"`, `${at(last)}; rel="last"`] : []),
    ...(page > 1 ? [`${at(1)}; rel="first"`, `${at(page - 1)}; rel="prev"`] : []),
  ]
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    link: rels.length === 0 ? undefined : rels.join(", "),
  }
}

/**
 * @category models
 * @since 0.1.0
 */
export interface GitHubStandIn {
  /** `http://127.0.0.1:{port}`: the web base URL (`OIDC_PROXY_GITHUB_URL`). */
  readonly url: string
  /** `{url}/api`: the REST API base URL (`OIDC_PROXY_GITHUB_API_URL`). */
  readonly apiUrl: string
  /** The login the browser is signed in as. */
  signedIn: string
  /** Access tokens deleted through the application-token API, in order. */
  readonly deletedTokens: ReadonlyArray<string>
  /** Refresh-token grants answered with a new token. */
  readonly refreshes: () => number
  /** Every request, as `METHOD path`. */
  readonly requests: ReadonlyArray<string>
  readonly close: () => Promise<void>
}

interface Grant {
  readonly login: string
  readonly scopes: ReadonlyArray<string>
}

interface Code extends Grant {
  readonly redirectUri: string
  readonly challenge: string | undefined
}

/** The scopes GitHub knows among those requested (it ignores the others). */
const known = new Set(["repo", "read:user", "user", "user:email", "read:org", "gist"])

const read = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...headers })
  res.end(JSON.stringify(body))
}

const badCredentials = { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" }

const basicCredentials = (header: string | undefined): [string, string] | undefined => {
  if (header?.startsWith("Basic ") !== true) return undefined
  const text = Buffer.from(header.slice(6), "base64").toString("utf8")
  const at = text.indexOf(":")
  return at < 0 ? undefined : [text.slice(0, at), text.slice(at + 1)]
}

/**
 * Starts the stand-in on a free port of 127.0.0.1.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = async (options: Options): Promise<GitHubStandIn> => {
  const codes = new Map<string, Code>()
  const tokens = new Map<string, Grant & { readonly expiresAt: number | undefined }>()
  const refreshTokens = new Map<string, Grant>()
  const deletedTokens: Array<string> = []
  const requests: Array<string> = []
  let refreshes = 0
  const newToken = (prefix: string) => `${prefix}_${randomBytes(18).toString("base64url")}`

  const issue = (grant: Grant) => {
    const app = options.expiresIn !== undefined
    const access = newToken(app ? "ghu" : "gho")
    tokens.set(access, {
      ...grant,
      expiresAt: app ? Date.now() + (options.expiresIn as number) * 1000 : undefined,
    })
    const answer: Record<string, string> = {
      access_token: access,
      // A GitHub App's user token has the app's permissions, not scopes.
      scope: app ? "" : grant.scopes.join(","),
      token_type: "bearer",
    }
    if (app) {
      const refresh = newToken("ghr")
      refreshTokens.set(refresh, grant)
      Object.assign(answer, {
        expires_in: String(options.expiresIn),
        refresh_token: refresh,
        refresh_token_expires_in: "15897600",
      })
    }
    return answer
  }

  const authorize = (url: URL, res: ServerResponse) => {
    const q = url.searchParams
    const redirectUri = q.get("redirect_uri")
    if (q.get("client_id") !== options.clientId || redirectUri === null) {
      res.writeHead(404, { "content-type": "text/plain" })
      return res.end("Not Found")
    }
    const requested = (q.get("scope") ?? "").split(/[\s,]+/).filter((s) => known.has(s))
    const code = randomBytes(10).toString("hex")
    codes.set(code, {
      login: server.signedIn,
      scopes: [...new Set(requested)],
      redirectUri,
      challenge: q.get("code_challenge") ?? undefined,
    })
    const back = new URL(redirectUri)
    back.searchParams.set("code", code)
    const state = q.get("state")
    if (state !== null) back.searchParams.set("state", state)
    res.writeHead(302, { location: back.toString() })
    res.end()
  }

  const tokenEndpoint = async (req: IncomingMessage, res: ServerResponse) => {
    const text = await read(req)
    const params = (req.headers["content-type"] ?? "").includes("json")
      ? new URLSearchParams(JSON.parse(text) as Record<string, string>)
      : new URLSearchParams(text)
    const [id, secret] = basicCredentials(req.headers.authorization) ?? [
      params.get("client_id"),
      params.get("client_secret"),
    ]
    const answer = (body: Record<string, string>) => {
      // Form-encoded unless JSON is asked for; errors too, and all with HTTP 200.
      if ((req.headers.accept ?? "").includes("application/json")) return json(res, 200, body)
      res.writeHead(200, { "content-type": "application/x-www-form-urlencoded; charset=utf-8" })
      res.end(new URLSearchParams(body).toString())
    }
    const error = (code: string, description: string) =>
      answer({ error: code, error_description: description })
    if (id !== options.clientId || secret !== options.clientSecret)
      return error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
    if (params.get("grant_type") === "refresh_token") {
      const grant = refreshTokens.get(params.get("refresh_token") ?? "")
      if (grant === undefined)
        return error("bad_refresh_token", "The refresh token passed is incorrect or expired.")
      refreshTokens.delete(params.get("refresh_token") ?? "")
      refreshes++
      return answer(issue(grant))
    }
    const code = codes.get(params.get("code") ?? "")
    codes.delete(params.get("code") ?? "")
    if (code === undefined) return error("bad_verification_code", "The code passed is incorrect or expired.")
    if (params.get("redirect_uri") !== null && params.get("redirect_uri") !== code.redirectUri)
      return error("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL.")
    const verifier = params.get("code_verifier")
    if (
      code.challenge !== undefined &&
      (verifier === null || createHash("sha256").update(verifier).digest("base64url") !== code.challenge)
    )
      return error("bad_verification_code", "The code passed is incorrect or expired.")
    return answer(issue(code))
  }

  /** The grant behind the request's token, or `undefined` after answering 401/403. */
  const authenticated = (req: IncomingMessage, res: ServerResponse) => {
    if (req.headers["user-agent"] === undefined) {
      json(res, 403, {
        message:
          "Request forbidden by administrative rules. Please make sure your request has a User-Agent header.",
      })
      return undefined
    }
    const match = /^(?:Bearer|token) (\S+)$/i.exec(req.headers.authorization ?? "")
    const grant = match === null ? undefined : tokens.get(match[1] as string)
    if (grant === undefined || (grant.expiresAt !== undefined && grant.expiresAt <= Date.now())) {
      json(res, 401, badCredentials)
      return undefined
    }
    return grant
  }

  const api = async (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => {
    const remove = /^\/applications\/([^/]+)\/token$/.exec(path)
    if (remove !== null && req.method === "DELETE") {
      const [id, secret] = basicCredentials(req.headers.authorization) ?? []
      if (id !== options.clientId || remove[1] !== options.clientId || secret !== options.clientSecret)
        return json(res, 404, { message: "Not Found" })
      let token: unknown
      try {
        token = (JSON.parse(await read(req)) as { access_token?: unknown }).access_token
      } catch {
        token = undefined
      }
      if (typeof token !== "string") return json(res, 422, { message: "Validation Failed" })
      if (!tokens.delete(token)) return json(res, 404, { message: "Not Found" })
      deletedTokens.push(token)
      res.writeHead(204)
      return res.end()
    }
    const grant = authenticated(req, res)
    if (grant === undefined) return
    const user = options.users[grant.login] as User
    // A GitHub App is assumed to hold the email and members permissions.
    const has = (...scopes: ReadonlyArray<string>) =>
      options.expiresIn !== undefined || scopes.some((s) => grant.scopes.includes(s))
    const app = options.expiresIn !== undefined
    const headers = { "x-oauth-scopes": app ? "" : grant.scopes.join(", "), "x-accepted-oauth-scopes": "" }
    if (path === "/user") {
      const publicEmail = user.emails.find((e) => e.primary)?.email ?? null
      return json(res, 200, { login: grant.login, id: user.id, type: "User", email: publicEmail }, headers)
    }
    if (path === "/user/emails") {
      if (!has("user:email", "user")) return json(res, 404, { message: "Not Found" }, headers)
      return json(
        res,
        200,
        user.emails.map((e) => ({ ...e, visibility: e.primary ? "public" : null })),
        headers,
      )
    }
    if (path === "/user/orgs") {
      const orgs = (user.orgs ?? []).filter((o) => o.public || has("read:org"))
      const { items, link } = paginate(orgs, query, `http://${req.headers.host ?? "127.0.0.1"}/api/user/orgs`)
      return json(
        res,
        200,
        items.map((o) => ({ login: o.login, id: 1000 + orgs.indexOf(o) })),
        link === undefined ? headers : { ...headers, link },
      )
    }
    json(res, 404, { message: "Not Found" })
  }

  const httpServer = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    requests.push(`${req.method} ${url.pathname}`)
    const handle = async () => {
      if (url.pathname === "/login/oauth/authorize" && req.method === "GET") return authorize(url, res)
      if (url.pathname === "/login/oauth/access_token" && req.method === "POST")
        return tokenEndpoint(req, res)
      if (url.pathname.startsWith("/api/")) return api(req, res, url.pathname.slice(4), url.searchParams)
      json(res, 404, { message: "Not Found" })
    }
    handle().catch(() => json(res, 500, { message: "stand-in failure" }))
  })
  const port = await listen(httpServer, 0)
  const url = `http://127.0.0.1:${port}`
  const server: GitHubStandIn = {
    url,
    apiUrl: `${url}/api`,
    signedIn: Object.keys(options.users)[0] ?? "",
    deletedTokens,
    refreshes: () => refreshes,
    requests,
    close: () => close(httpServer),
  }
  return server
}

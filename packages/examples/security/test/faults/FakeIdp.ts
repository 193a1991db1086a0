/**
 * A small OpenID provider on 127.0.0.1 whose failures a test switches on and off: discovery, an
 * authorization endpoint that signs the user in at once (302 back with `code`, `state`, `iss`),
 * a token endpoint (authorization_code with S256 PKCE, refresh_token with rotation) that can be
 * made slow or answer 5xx, revocation, and a JWKS served from a listener of its own, so it can
 * answer 503 or be closed (connection refused) while everything else stays up. Hostile modes: the
 * discovery, token, revocation and JWKS endpoints can redirect (to a `Sink`, another origin),
 * stream an endless body or trickle one; tokens can be signed with an attacker's key published
 * only at the sink. The token endpoint also takes RFC 8693 token exchanges, answered with a fresh
 * token or with whatever body a test sets (`exchangeMode`), so a gateway's downstream tokens can be
 * driven with hostile answers.
 *
 * Test support (node:http + jose). Upstream access tokens are RS256 JWTs (`iss`, `sub`, `aud`,
 * `scope`, `exp`) under one key; with `idTokens` on, token responses carry an id_token too (same
 * key, `aud` = the client, the authorization request's `nonce` at the code exchange). The subject and the identity claims of the next tokens can be set to
 * anything, hostile values included. With `opaque` on, access tokens are random strings the IdP
 * remembers and answers for at `/introspect` (RFC 7662, client authentication as at the token
 * endpoint): `active` until revoked, expired or switched off with `active = false`; the endpoint
 * can answer 503 (`introspectionMode`); `/userinfo` answers the same tokens' claims to their bearer
 * (and records every bearer it was shown). Both answers can be rewritten into hostile ones
 * (`introspectionAnswer`, `userinfoAnswer`, `userinfoScopes`).
 */
import { createHash, randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from "jose"

/** The redirect statuses a hostile endpoint answers with (to `FakeIdp.redirectTo`). */
export type RedirectStatus = 301 | 302 | 303 | 307 | 308

/**
 * How a hostile endpoint misbehaves: a redirect (`Location` under `redirectTo`), a 200 whose JSON
 * body never ends (`endless`: 64 KiB chunks as fast as the reader takes them), or a 200 whose body
 * comes one byte a second and stays far under any size cap (`trickle`).
 */
export type Hostile = { readonly redirect: RedirectStatus } | "endless" | "trickle"

/** How the token endpoint behaves: normally, never answering, with a 500/503, or hostile. */
export type TokenMode = "ok" | "hang" | "500" | "503" | Hostile

/**
 * How the token endpoint answers an RFC 8693 exchange: a fresh Bearer access token
 * (`ok`: `exchanged-<sub of the subject token>-<random>`, recorded in `exchanged`), a hostile answer, or `answer`: this status and JSON body as they are.
 */
export type ExchangeMode = "ok" | Hostile | { readonly status: number; readonly answer: unknown }

/** How the JWKS endpoint behaves; `refused` closes its listener (connection refused). */
export type JwksMode = "ok" | "503" | "refused" | Hostile

export interface FakeIdp {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: string
  readonly audience: string
  /** Behaviour of the token endpoint (both grants). */
  tokenMode: TokenMode
  /** `expires_in` of upstream access tokens, seconds. */
  expiresIn: number
  /** `sub` of the next tokens issued. */
  subject: string
  /** Claims added to the next tokens (access token and id_token), e.g. `email`, `email_verified`. */
  claims: Record<string, unknown>
  /**
   * The next id_tokens' own claims instead of `claims`, and their `sub` instead of `subject` (any
   * JSON value: a number, a variant of the access token's); unset: as the access token.
   */
  idToken: { readonly claims?: Record<string, unknown>; readonly sub?: unknown } | undefined
  /**
   * The upstream access token of the next token responses as is (an opaque token, for a gateway
   * that verifies the id_token); unset: a signed JWT.
   */
  opaqueAccessToken: string | undefined
  /** How token exchanges are answered (RFC 8693 `grant_type`). */
  exchangeMode: ExchangeMode
  /** Every access token issued by an `ok` exchange, in order. */
  readonly exchanged: Array<string>
  /** Whether token responses carry an id_token (default: yes). */
  idTokens: boolean
  /** Behaviour of the discovery document (read once, when a gateway starts) and of revocation. */
  discoveryMode: "ok" | Hostile
  revocationMode: "ok" | Hostile
  /**
   * Where redirects point (an origin with no trailing slash; the path is the endpoint's own, JWKS
   * redirects go to `/alt-jwks`). Unset: the IdP's own origin.
   */
  redirectTo: string | undefined
  /**
   * The key that signs the tokens issued from now on: the IdP's (published at its JWKS) or an
   * attacker's (published only in `attackerJwks`, e.g. at a redirect target).
   */
  signer: "idp" | "attacker"
  /** Bytes written by each endless or trickling answer, recorded when the reader hung up. */
  readonly streamed: Array<number>
  /** The attacker's public keys, as a JWK set. */
  readonly attackerJwks: { readonly keys: ReadonlyArray<Record<string, unknown>> }
  /** Issue opaque access tokens (random strings, verified only by introspection). Default: JWTs. */
  opaque: boolean
  /** Whether introspection reports the opaque tokens active (a switch for the whole IdP). */
  active: boolean
  /** Behaviour of `/introspect`. */
  introspectionMode: "ok" | "503"
  /** Rewrites an active token's introspection answer (hostile members); unset: the answer as is. */
  introspectionAnswer: ((answer: Record<string, unknown>) => unknown) | undefined
  /** The bearer tokens `/userinfo` received (it answers for opaque tokens, like `/introspect`). */
  readonly userinfoBearers: Array<string>
  /** Rewrites a known token's userinfo answer (hostile members); unset: the answer as is. */
  userinfoAnswer: ((answer: Record<string, unknown>) => unknown) | undefined
  /** `X-OAuth-Scopes` of userinfo answers (an array: the header repeated); unset: none. */
  userinfoScopes: string | Array<string> | undefined
  /** Switches the JWKS endpoint; resolves once the change is in effect. */
  readonly setJwks: (mode: JwksMode) => Promise<void>
  /** Requests each endpoint received (a hung or refused request counts when it arrived). */
  readonly counts: {
    jwks: number
    code: number
    refresh: number
    revoke: number
    discovery: number
    introspect: number
    exchange: number
    userinfo: number
  }
  readonly close: () => Promise<void>
}

const listen = (server: Server, port = 0) =>
  new Promise<number>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port))
  })

const close = (server: Server) =>
  new Promise<void>((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    server.closeAllConnections()
  })

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
  res.end(JSON.stringify(body))
}

const readForm = (req: IncomingMessage) =>
  new Promise<URLSearchParams>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(new URLSearchParams(Buffer.concat(chunks).toString())))
    req.on("error", reject)
  })

const exchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"

const random = () => randomBytes(24).toString("base64url")

/**
 * A 200 JSON answer whose body never ends (`endless`: 64 KiB chunks as fast as the reader takes
 * them) or comes one byte a second (`trickle`), until the reader hangs up; `served` then gets the
 * bytes written on the connection.
 */
export const writeHostileBody = (
  res: ServerResponse,
  mode: "endless" | "trickle",
  served?: (bytes: number) => void,
) => {
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
  if (served !== undefined) res.once("close", () => served(res.socket?.bytesWritten ?? Number.NaN))
  if (mode === "trickle") {
    res.write("{")
    const timer = setInterval(() => res.write(" "), 1_000)
    res.once("close", () => clearInterval(timer))
    return
  }
  const chunk = Buffer.alloc(64 * 1024, " ")
  res.write('{"padding":"')
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once("drain", pump)
  }
  pump()
}

/** Starts the provider; `close` stops both listeners and drops every held request. */
export const startFakeIdp = async (options: { readonly subject?: string } = {}): Promise<FakeIdp> => {
  const { privateKey, publicKey } = await generateKeyPair("RS256")
  const kid = `fake-${random().slice(0, 8)}`
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }] }
  const clientId = "fake-idp-client"
  const clientSecret = `fake-idp-secret-${random()}`
  const codes = new Map<
    string,
    { redirect_uri: string; challenge: string; scope: string; nonce: string | null }
  >()
  const refreshTokens = new Map<string, string>()
  const counts = {
    jwks: 0,
    code: 0,
    refresh: 0,
    revoke: 0,
    discovery: 0,
    introspect: 0,
    userinfo: 0,
    exchange: 0,
  }
  const opaqueTokens = new Map<
    string,
    { sub: string; scope: string; exp: number; claims: Record<string, unknown> }
  >()
  let jwksMode: JwksMode = "ok"

  const attacker = await generateKeyPair("RS256")
  const attackerKid = `attacker-${random().slice(0, 8)}`
  const attackerJwks = {
    keys: [{ ...(await exportJWK(attacker.publicKey)), kid: attackerKid, alg: "RS256", use: "sig" }],
  }

  const jwksServer = createServer((req, res) => {
    counts.jwks++
    if (jwksMode === "503") return json(res, 503, { error: "temporarily_unavailable" })
    if (jwksMode !== "ok" && jwksMode !== "refused") return hostile(jwksMode, res, "/alt-jwks", req)
    json(res, 200, jwks)
  })
  const jwksPort = await listen(jwksServer)
  const main = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { error: "server_error" })
    })
  })
  const port = await listen(main)
  const issuer = `http://127.0.0.1:${port}`
  const audience = `${issuer}/api`

  const idp: FakeIdp = {
    issuer,
    clientId,
    clientSecret,
    audience,
    tokenMode: "ok",
    expiresIn: 3600,
    subject: options.subject ?? "ada",
    claims: { email: "ada@example.com" },
    idToken: undefined,
    idTokens: true,
    opaqueAccessToken: undefined,
    exchangeMode: "ok",
    exchanged: [],
    discoveryMode: "ok",
    revocationMode: "ok",
    redirectTo: undefined,
    signer: "idp",
    opaque: false,
    active: true,
    introspectionMode: "ok",
    introspectionAnswer: undefined,
    userinfoBearers: [],
    userinfoAnswer: undefined,
    userinfoScopes: undefined,
    attackerJwks,
    streamed: [],
    counts,
    setJwks: async (mode) => {
      jwksMode = mode
      if (mode === "refused") await close(jwksServer)
      else if (!jwksServer.listening) await listen(jwksServer, jwksPort)
    },
    close: async () => {
      await Promise.all([close(main), close(jwksServer)])
    },
  }

  // A hostile answer; `path` is where a redirect points under `redirectTo`.
  const hostile = (mode: Hostile, res: ServerResponse, path: string, req: IncomingMessage) => {
    req.resume()
    if (typeof mode === "object") {
      res.writeHead(mode.redirect, { location: `${idp.redirectTo ?? issuer}${path}` })
      return res.end()
    }
    writeHostileBody(res, mode, (bytes) => idp.streamed.push(bytes))
  }

  const tokens = async (scope: string, nonce: string | null = null) => {
    const now = Math.floor(Date.now() / 1000)
    const [signingKey, signingKid] =
      idp.signer === "idp" ? [privateKey, kid] : [attacker.privateKey, attackerKid]
    const opaque = `opaque-${random()}`
    if (idp.opaque)
      opaqueTokens.set(opaque, { sub: idp.subject, scope, exp: now + idp.expiresIn, claims: idp.claims })
    const access_token =
      idp.opaqueAccessToken ??
      (idp.opaque
        ? opaque
        : await new SignJWT({ scope, client_id: clientId, ...idp.claims })
            .setProtectedHeader({ alg: "RS256", kid: signingKid, typ: "at+jwt" })
            .setIssuer(issuer)
            .setSubject(idp.subject)
            .setAudience(audience)
            .setIssuedAt(now)
            .setExpirationTime(now + idp.expiresIn)
            .setJti(random())
            .sign(signingKey))
    const id_token = idp.idTokens
      ? await new SignJWT({
          ...(idp.idToken?.claims ?? idp.claims),
          // Any JSON value a hostile IdP may put there, not only the string `JWTPayload` types.
          sub: (idp.idToken !== undefined && "sub" in idp.idToken ? idp.idToken.sub : idp.subject) as string,
          ...(nonce === null ? {} : { nonce }),
        })
          .setProtectedHeader({ alg: "RS256", kid: signingKid })
          .setIssuer(issuer)
          .setAudience(clientId)
          .setIssuedAt(now)
          .setExpirationTime(now + idp.expiresIn)
          .sign(signingKey)
      : undefined
    const refresh_token = random()
    refreshTokens.set(refresh_token, scope)
    return {
      access_token,
      token_type: "Bearer",
      expires_in: idp.expiresIn,
      refresh_token,
      scope,
      ...(id_token === undefined ? {} : { id_token }),
    }
  }

  const authenticated = (req: IncomingMessage, form: URLSearchParams) => {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "")?.[1]
    if (basic !== undefined) {
      const [id, secret] = Buffer.from(basic, "base64").toString().split(":").map(decodeURIComponent)
      return id === clientId && secret === clientSecret
    }
    return form.get("client_id") === clientId && form.get("client_secret") === clientSecret
  }

  const token = async (req: IncomingMessage, res: ServerResponse) => {
    const mode = idp.tokenMode
    if (typeof mode === "object" || mode === "endless" || mode === "trickle") {
      counts.code++
      return hostile(mode, res, "/token", req)
    }
    const form = await readForm(req)
    const grant = form.get("grant_type")
    if (grant === "authorization_code") counts.code++
    if (grant === "refresh_token") counts.refresh++
    // A hung IdP never answers (the request is dropped when the IdP closes); nothing is processed.
    if (idp.tokenMode === "hang") return
    if (idp.tokenMode === "500") return json(res, 500, { error: "server_error" })
    if (idp.tokenMode === "503") return json(res, 503, { error: "temporarily_unavailable" })
    if (!authenticated(req, form)) return json(res, 401, { error: "invalid_client" })
    if (grant === "authorization_code") {
      const code = codes.get(form.get("code") ?? "")
      codes.delete(form.get("code") ?? "")
      const verifier = form.get("code_verifier") ?? ""
      if (
        code === undefined ||
        code.redirect_uri !== form.get("redirect_uri") ||
        createHash("sha256").update(verifier).digest("base64url") !== code.challenge
      )
        return json(res, 400, { error: "invalid_grant" })
      return json(res, 200, await tokens(code.scope, code.nonce))
    }
    if (grant === "refresh_token") {
      const old = form.get("refresh_token") ?? ""
      const scope = refreshTokens.get(old)
      if (scope === undefined) return json(res, 400, { error: "invalid_grant" })
      refreshTokens.delete(old)
      return json(res, 200, await tokens(scope))
    }
    if (grant === exchangeGrant) return exchange(req, res, form)
    return json(res, 400, { error: "unsupported_grant_type" })
  }

  // RFC 7662 §2.2: an unknown, revoked or expired token is just `{"active": false}`.
  const introspect = async (req: IncomingMessage, res: ServerResponse) => {
    counts.introspect++
    const form = await readForm(req)
    if (idp.introspectionMode === "503") return json(res, 503, { error: "temporarily_unavailable" })
    if (!authenticated(req, form)) return json(res, 401, { error: "invalid_client" })
    const known = opaqueTokens.get(form.get("token") ?? "")
    const now = Math.floor(Date.now() / 1000)
    if (known === undefined || !idp.active || known.exp <= now) return json(res, 200, { active: false })
    const answer = {
      active: true,
      sub: known.sub,
      scope: known.scope,
      client_id: clientId,
      aud: audience,
      iss: issuer,
      exp: known.exp,
      token_type: "Bearer",
    }
    return json(res, 200, idp.introspectionAnswer === undefined ? answer : idp.introspectionAnswer(answer))
  }

  // OpenID Connect Core §5.3: the claims of the user behind a bearer the IdP issued, else 401.
  const userinfo = (req: IncomingMessage, res: ServerResponse) => {
    counts.userinfo++
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1] ?? ""
    idp.userinfoBearers.push(token)
    const known = opaqueTokens.get(token)
    if (known === undefined || !idp.active || known.exp <= Math.floor(Date.now() / 1000))
      return json(res, 401, { error: "invalid_token" })
    const answer = { ...known.claims, sub: known.sub }
    if (idp.userinfoScopes !== undefined) res.setHeader("x-oauth-scopes", idp.userinfoScopes)
    return json(res, 200, idp.userinfoAnswer === undefined ? answer : idp.userinfoAnswer(answer))
  }

  const exchange = (req: IncomingMessage, res: ServerResponse, form: URLSearchParams) => {
    counts.exchange++
    const mode = idp.exchangeMode
    if (typeof mode === "object" && "status" in mode) return json(res, mode.status, mode.answer)
    if (mode !== "ok") return hostile(mode, res, "/token", req)
    if ((form.get("subject_token") ?? "") === "") return json(res, 400, { error: "invalid_request" })
    // The subject's `sub` in the token, so a test sees whose session a forwarded token belongs to.
    const subject = String(decodeJwt(form.get("subject_token") ?? "").sub)
    const access_token = `exchanged-${subject}-${random()}`
    idp.exchanged.push(access_token)
    return json(res, 200, {
      access_token,
      token_type: "Bearer",
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
      expires_in: 300,
    })
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", issuer)
    switch (url.pathname) {
      case "/.well-known/openid-configuration":
        counts.discovery++
        if (idp.discoveryMode !== "ok")
          return hostile(idp.discoveryMode, res, "/.well-known/openid-configuration", req)
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          revocation_endpoint: `${issuer}/revoke`,
          jwks_uri: `http://127.0.0.1:${jwksPort}/jwks`,
          response_types_supported: ["code"],
          grant_types_supported: ["authorization_code", "refresh_token"],
          code_challenge_methods_supported: ["S256"],
          token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
          id_token_signing_alg_values_supported: ["RS256"],
          authorization_response_iss_parameter_supported: true,
        })
      case "/authorize": {
        const q = url.searchParams
        const redirect = q.get("redirect_uri") ?? ""
        if (q.get("client_id") !== clientId || q.get("code_challenge_method") !== "S256")
          return json(res, 400, { error: "invalid_request" })
        const code = random()
        codes.set(code, {
          redirect_uri: redirect,
          challenge: q.get("code_challenge") ?? "",
          scope: q.get("scope") ?? "openid",
          nonce: q.get("nonce"),
        })
        const back = new URL(redirect)
        back.searchParams.set("code", code)
        back.searchParams.set("state", q.get("state") ?? "")
        back.searchParams.set("iss", issuer)
        res.writeHead(302, { location: back.href })
        return res.end()
      }
      case "/token":
        if (req.method !== "POST") return json(res, 405, { error: "invalid_request" })
        return token(req, res)
      case "/introspect":
        return introspect(req, res)
      case "/userinfo":
        return userinfo(req, res)
      case "/revoke": {
        counts.revoke++
        if (idp.revocationMode !== "ok") return hostile(idp.revocationMode, res, "/revoke", req)
        const form = await readForm(req)
        refreshTokens.delete(form.get("token") ?? "")
        opaqueTokens.delete(form.get("token") ?? "")
        res.writeHead(200)
        return res.end()
      }
      default:
        return json(res, 404, { error: "not_found" })
    }
  }
  return idp
}

/** Everything a sink received: method, path, headers and body of each request. */
export interface SinkRequest {
  readonly method: string
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

export interface Sink {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string
  readonly port: number
  readonly received: Array<SinkRequest>
  readonly close: () => Promise<void>
}

/**
 * Another origin on 127.0.0.1 that records every request (it must receive nothing from a gateway
 * that follows no upstream redirect) and answers `/alt-jwks` with `jwks` (the attacker's keys).
 */
export const startSink = async (jwks: unknown): Promise<Sink> => {
  const received: Array<SinkRequest> = []
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      received.push({
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      })
      if ((req.url ?? "").startsWith("/alt-jwks")) return json(res, 200, jwks)
      // What a token endpoint would say, so a followed redirect would look like a success.
      json(res, 400, { error: "invalid_grant" })
    })
  })
  const port = await listen(server)
  return { url: `http://127.0.0.1:${port}`, port, received, close: () => close(server) }
}

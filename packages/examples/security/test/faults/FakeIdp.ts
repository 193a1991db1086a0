/**
 * A small OpenID provider on 127.0.0.1 whose failures a test switches on and off: discovery, an
 * authorization endpoint that signs the user in at once (302 back with `code`, `state`, `iss`),
 * a token endpoint (authorization_code with S256 PKCE, refresh_token with rotation) that can be
 * made slow or answer 5xx, revocation, and a JWKS served from a listener of its own, so it can
 * answer 503 or be closed (connection refused) while everything else stays up.
 *
 * Test support (node:http + jose). Upstream access tokens are RS256 JWTs (`iss`, `sub`, `aud`,
 * `scope`, `exp`) under one key; with `idTokens` on, token responses carry an id_token too (same
 * key, `aud` = the client). The subject and the identity claims of the next tokens can be set to
 * anything, hostile values included.
 */
import { createHash, randomBytes } from "node:crypto"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { exportJWK, generateKeyPair, SignJWT } from "jose"

/** How the token endpoint behaves: normally, never answering, or with a 500/503. */
export type TokenMode = "ok" | "hang" | "500" | "503"

/** How the JWKS endpoint behaves; `refused` closes its listener (connection refused). */
export type JwksMode = "ok" | "503" | "refused"

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
  /** Whether token responses carry an id_token. */
  idTokens: boolean
  /** Switches the JWKS endpoint; resolves once the change is in effect. */
  readonly setJwks: (mode: JwksMode) => Promise<void>
  /** Requests each endpoint received (a hung or refused request counts when it arrived). */
  readonly counts: { jwks: number; code: number; refresh: number }
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

const random = () => randomBytes(24).toString("base64url")

/** Starts the provider; `close` stops both listeners and drops every held request. */
export const startFakeIdp = async (options: { readonly subject?: string } = {}): Promise<FakeIdp> => {
  const { privateKey, publicKey } = await generateKeyPair("RS256")
  const kid = `fake-${random().slice(0, 8)}`
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" }] }
  const clientId = "fake-idp-client"
  const clientSecret = `fake-idp-secret-${random()}`
  const codes = new Map<string, { redirect_uri: string; challenge: string; scope: string }>()
  const refreshTokens = new Map<string, string>()
  const counts = { jwks: 0, code: 0, refresh: 0 }
  let jwksMode: JwksMode = "ok"

  const jwksServer = createServer((_req, res) => {
    counts.jwks++
    if (jwksMode === "503") return json(res, 503, { error: "temporarily_unavailable" })
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
    idTokens: false,
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

  const tokens = async (scope: string) => {
    const now = Math.floor(Date.now() / 1000)
    const access_token = await new SignJWT({ scope, client_id: clientId, ...idp.claims })
      .setProtectedHeader({ alg: "RS256", kid, typ: "at+jwt" })
      .setIssuer(issuer)
      .setSubject(idp.subject)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + idp.expiresIn)
      .setJti(random())
      .sign(privateKey)
    const id_token = idp.idTokens
      ? await new SignJWT({ ...idp.claims })
          .setProtectedHeader({ alg: "RS256", kid })
          .setIssuer(issuer)
          .setSubject(idp.subject)
          .setAudience(clientId)
          .setIssuedAt(now)
          .setExpirationTime(now + idp.expiresIn)
          .sign(privateKey)
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
      return json(res, 200, await tokens(code.scope))
    }
    if (grant === "refresh_token") {
      const old = form.get("refresh_token") ?? ""
      const scope = refreshTokens.get(old)
      if (scope === undefined) return json(res, 400, { error: "invalid_grant" })
      refreshTokens.delete(old)
      return json(res, 200, await tokens(scope))
    }
    return json(res, 400, { error: "unsupported_grant_type" })
  }

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", issuer)
    switch (url.pathname) {
      case "/.well-known/openid-configuration":
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
      case "/revoke": {
        const form = await readForm(req)
        refreshTokens.delete(form.get("token") ?? "")
        res.writeHead(200)
        return res.end()
      }
      default:
        return json(res, 404, { error: "not_found" })
    }
  }
  return idp
}

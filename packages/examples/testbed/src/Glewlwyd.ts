/**
 * Glewlwyd (Debian package `glewlwyd`, 2.7) as a second real OpenID Provider that nobody here wrote:
 * a child process on a free 127.0.0.1 port, with its own config file and SQLite database in a
 * temporary directory, set up through its own admin API like an operator would.
 *
 * Testing adapter; needs the `glewlwyd` binary and its SQLite schema (both from the Debian
 * package). The provider is configured with: an RS256 key (so its JWT access tokens are verifiable
 * through its JWKS), one user with a password, one confidential client registered for a callback,
 * the scopes `openid` and `mcp:read`, resource indicators allowed for the client's registered
 * resource (the access token's `aud`), refresh tokens, and revocation. Its login page is a
 * JavaScript application that signs in through `/api/auth/`; {@link glewlwydLogin} does the same
 * calls with the browser's cookies.
 *
 * Quirks worth knowing (2.7.5): `sub` is a random public subject identifier per user, not the
 * username; without a `resource` parameter the access token's `aud` is the granted scope list; a
 * `use_secure_connection` key in the config file, even `false`, demands certificate files; the
 * rest (nonce required, Basic credentials never form-decoded, …) is in the testbed README.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import type { HeadlessBrowser, PageHandler } from "./HeadlessBrowser.ts"
import { waitFor } from "./Polling.ts"
import { freePort } from "./Ports.ts"

/** The database schema and first admin the Debian package installs with dbconfig-common. */
const schemaFile = "/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3"
const modulesDir = "/usr/lib/glewlwyd"
/** The admin account the schema creates. */
const admin = { username: "admin", password: "password" }

/**
 * Whether glewlwyd and its SQLite schema are installed here.
 *
 * @since 0.1.0
 */
export const available: boolean =
  spawnSync("glewlwyd", ["--version"]).error === undefined && existsSync(schemaFile)

/**
 * @category models
 * @since 0.1.0
 */
export interface GlewlwydOptions {
  /** redirect_uris of the confidential client (the gateway's callback). */
  readonly redirectUris: ReadonlyArray<string>
  /** The resource the client may ask for (RFC 8707); it becomes the access token's `aud`. */
  readonly resource: string
  /** Access token lifetime, seconds; default 3600. */
  readonly accessTokenSeconds?: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Glewlwyd {
  /** The OpenID Provider's issuer; discovery is at `${issuer}/.well-known/openid-configuration`. */
  readonly issuer: string
  readonly client: { readonly client_id: string; readonly client_secret: string }
  readonly user: { readonly username: string; readonly password: string; readonly email: string }
  /** The `sub` glewlwyd assigned to `username` (a random public identifier), once it has signed in. */
  readonly subjectOf: (username: string) => string | undefined
  /** Access tokens glewlwyd has issued to the client (code and refresh grants), from its database. */
  readonly accessTokensIssued: () => number
  /** Refresh tokens of the client glewlwyd still honours (not revoked), from its database. */
  readonly activeRefreshTokens: () => number
  /** Everything the process wrote. */
  readonly output: () => string
  readonly close: () => Promise<void>
}

const configFile = (port: number, dir: string): string =>
  [
    `port=${port}`,
    `bind_address="127.0.0.1"`,
    `external_url="http://127.0.0.1:${port}"`,
    `login_url="login.html"`,
    `api_prefix="api"`,
    `log_mode="console"`,
    `log_level="INFO"`,
    `cookie_secure=0`,
    `admin_scope="g_admin"`,
    `profile_scope="g_profile"`,
    `user_module_path="${modulesDir}/user"`,
    `client_module_path="${modulesDir}/client"`,
    `user_auth_scheme_module_path="${modulesDir}/scheme"`,
    `plugin_module_path="${modulesDir}/plugin"`,
    `hash_algorithm="SHA512"`,
    `database = { type = "sqlite3"; path = "${join(dir, "glewlwyd.db")}"; };`,
    "",
  ].join("\n")

/** An RS256 signing key as the private JWKS the OIDC plugin takes. */
const signingJwks = (): { readonly kid: string; readonly jwks: string } => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  const kid = `testbed-${randomBytes(4).toString("hex")}`
  const jwk = { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" }
  return { kid, jwks: JSON.stringify({ keys: [jwk] }) }
}

const oidcPlugin = (issuer: string, options: GlewlwydOptions) => {
  const { kid, jwks } = signingJwks()
  return {
    module: "oidc",
    name: "oidc",
    display_name: "OpenID Connect",
    parameters: {
      iss: issuer,
      "jwks-private": jwks,
      "default-kid": kid,
      "jwks-show": true,
      "access-token-duration": options.accessTokenSeconds ?? 3600,
      "refresh-token-duration": 1209600,
      "code-duration": 600,
      "refresh-token-rolling": true,
      "allow-non-oidc": false,
      "auth-type-code-enabled": true,
      "auth-type-refresh-enabled": true,
      "subject-type": "public",
      "pkce-allowed": true,
      "email-claim": "mandatory",
      "name-claim": "on-demand",
      // The access token carries the user's email, as identity headers need it.
      "additional-parameters": [{ "user-parameter": "email", "token-parameter": "email" }],
      "resource-allowed": true,
      "resource-client-property": "resource",
      "resource-scope": {},
      "resource-scope-and-client-property": false,
      "introspection-revocation-allowed": true,
      "introspection-revocation-allow-target-client": true,
    },
  }
}

/** One admin API call with the admin's session cookie; fails naming the call and the answer. */
const adminCall = async (base: string, cookie: string, method: string, path: string, body: unknown) => {
  const res = await fetch(`${base}/api${path}`, {
    method,
    headers: { cookie, "content-type": "application/json" },
    body: JSON.stringify(body),
  })
  if (res.status !== 200) throw new Error(`glewlwyd ${method} ${path}: ${res.status} ${await res.text()}`)
}

const adminSession = async (base: string): Promise<string> => {
  const res = await fetch(`${base}/api/auth/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(admin),
  })
  const cookie = res.headers.getSetCookie()[0]?.split(";")[0]
  if (res.status !== 200 || cookie === undefined) throw new Error(`glewlwyd admin login: ${res.status}`)
  return cookie
}

/** Plugin, scope, user and client, through the admin API, as an operator would set them up. */
const provision = async (
  base: string,
  issuer: string,
  options: GlewlwydOptions,
  g: Pick<Glewlwyd, "client" | "user">,
) => {
  const cookie = await adminSession(base)
  await adminCall(base, cookie, "POST", "/mod/plugin/", oidcPlugin(issuer, options))
  await adminCall(base, cookie, "POST", "/scope/", {
    name: "mcp:read",
    display_name: "MCP read",
    description: "Calls to the MCP server",
    password_required: true,
    password_max_age: 0,
    scheme: {},
  })
  await adminCall(base, cookie, "POST", "/user/", {
    username: g.user.username,
    name: "Ada Lovelace",
    email: g.user.email,
    password: g.user.password,
    // g_profile: the user's own session may grant scopes to a client (glewlwyd's consent).
    scope: ["g_profile", "openid", "mcp:read"],
    enabled: true,
  })
  await adminCall(base, cookie, "POST", "/client/", {
    client_id: g.client.client_id,
    name: "oidc-proxy",
    confidential: true,
    client_secret: g.client.client_secret,
    redirect_uri: options.redirectUris,
    authorization_type: ["code", "refresh_token"],
    token_endpoint_auth_method: ["client_secret_basic"],
    resource: [options.resource],
    scope: ["openid", "mcp:read"],
    enabled: true,
  })
}

const spawnProcess = (config: string, output: (chunk: string) => void): ChildProcess => {
  const child = spawn("glewlwyd", ["-c", config], { stdio: ["ignore", "pipe", "pipe"] })
  child.stdout?.on("data", (d) => output(String(d)))
  child.stderr?.on("data", (d) => output(String(d)))
  return child
}

/**
 * Starts glewlwyd on a free port in a fresh temporary directory and provisions it; `close` stops
 * the process and removes the directory.
 *
 * @category constructors
 * @since 0.1.0
 */
export const startGlewlwyd = async (options: GlewlwydOptions): Promise<Glewlwyd> => {
  const dir = mkdtempSync(join(tmpdir(), "glewlwyd-"))
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const db = new DatabaseSync(join(dir, "glewlwyd.db"))
  db.exec(readFileSync(schemaFile, "utf8"))
  db.close()
  writeFileSync(join(dir, "glewlwyd.conf"), configFile(port, dir))
  let output = ""
  const child = spawnProcess(join(dir, "glewlwyd.conf"), (chunk) => {
    output += chunk
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  const issuer = `${base}/api/oidc`
  const g = {
    client: { client_id: "oidc-proxy", client_secret: randomBytes(24).toString("base64url") },
    user: { username: "ada", password: randomBytes(12).toString("base64url"), email: "ada@example.test" },
  }
  try {
    await waitFor(
      "glewlwyd listening",
      async () => {
        if (child.exitCode !== null) throw new Error(`glewlwyd exited ${child.exitCode}`)
        return (await fetch(`${base}/api/auth/scheme/`).catch(() => undefined)) === undefined
          ? undefined
          : true
      },
      { timeoutMs: 10_000 },
    )
    await provision(base, issuer, options, g)
  } catch (error) {
    await close()
    throw new Error(`${String(error)}\n${output}`)
  }
  // Read-only looks at glewlwyd's own records: what it did, not what the gateway says it did.
  const read = <A>(sql: string, ...params: Array<string>): A | undefined => {
    const db = new DatabaseSync(join(dir, "glewlwyd.db"), { readOnly: true })
    try {
      return db.prepare(sql).get(...params) as A | undefined
    } finally {
      db.close()
    }
  }
  const count = (sql: string) => read<{ n: number }>(sql, g.client.client_id)?.n ?? 0
  return {
    issuer,
    ...g,
    subjectOf: (username) =>
      read<{ gposi_sub: string }>(
        "SELECT gposi_sub FROM gpo_subject_identifier WHERE gposi_username = ?",
        username,
      )?.gposi_sub,
    accessTokensIssued: () => count("SELECT count(*) AS n FROM gpo_access_token WHERE gpoa_client_id = ?"),
    activeRefreshTokens: () =>
      count("SELECT count(*) AS n FROM gpo_refresh_token WHERE gpor_client_id = ? AND gpor_enabled = 1"),
    output: () => output,
    close,
  }
}

/**
 * Signs in at glewlwyd's login page the way its JavaScript application does: on the login page
 * (`login.html?…&callback_url=…`, a page this process does not serve), posts the credentials to
 * `/api/auth/`, grants the requested scopes to the client (`PUT /api/auth/grant/{client_id}/`,
 * glewlwyd's consent), then returns to `callback_url` plus `g_continue`: the authorization
 * request, now answered with a code. Uses `browser`'s cookie jar, so pass the same browser to the OAuth client.
 *
 * @category constructors
 * @since 0.1.0
 */
export const glewlwydLogin =
  (browser: HeadlessBrowser, user: { readonly username: string; readonly password: string }): PageHandler =>
  async (page) => {
    if (!page.url.pathname.endsWith("/login.html")) return undefined
    const callback = page.url.searchParams.get("callback_url")
    const clientId = page.url.searchParams.get("client_id")
    const scope = page.url.searchParams.get("scope")
    if (callback === null || clientId === null || scope === null) return undefined
    const json = (method: string, path: string, body: unknown) =>
      browser.request(new URL(`/api${path}`, page.url), {
        method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      })
    const login = await json("POST", "/auth/", { username: user.username, password: user.password })
    if (login.status !== 200) throw new Error(`glewlwyd login: ${login.status}`)
    // Space-separated: 2.7.5 splits on spaces, whatever its API document says (commas).
    const grant = await json("PUT", `/auth/grant/${encodeURIComponent(clientId)}/`, { scope })
    if (grant.status !== 200) throw new Error(`glewlwyd grant: ${grant.status}`)
    // Back to the authorization request, as the login application does once the user is signed in:
    // with `g_continue`, without which glewlwyd sends every authorization request to the login page.
    const target = new URL(callback, page.url)
    target.searchParams.set("g_continue", "")
    return {
      form: {
        index: 0,
        id: undefined,
        action: target,
        method: "GET",
        fields: [...target.searchParams],
        submitters: [],
      },
    }
  }

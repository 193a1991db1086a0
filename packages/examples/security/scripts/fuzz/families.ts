/**
 * The large fuzz's cases, one family per way in: raw HTTP/1.1 at the protected path (`raw.ts`:
 * request-target, method, header and framing oddities, with and without session A's bearer),
 * random requests to every endpoint and to unknown paths (`fuzz.ts`), live values of session B,
 * the confidential client and an open sign-in put in random places, and mutations of valid
 * requests: `/register`, `/authorize`, the consent POST, the callback, `/token` with every grant
 * (the two supported ones from live codes and refresh tokens, the rest refused), `/revoke`, and
 * the bearer check with a mutated token.
 *
 * Script support (`npm run fuzz`). A case is pure data plus how to build its request from the
 * live values at send time, so case K of seed S is the same case in every run.
 */
import * as fc from "fast-check"
import { clientRedirect } from "../../test/faults/flows.ts"
import { mutateCookies, mutateFields, mutateString, randomRequest, withoutControls } from "../../test/fuzz.ts"
import { type Case, rawCase } from "../../test/raw.ts"
import type { Fixtures } from "./fixtures.ts"

/** An HTTP request to the gateway, path included (sent with fetch, redirects not followed). */
export interface Outgoing {
  readonly method: string
  readonly path: string
  readonly headers: Record<string, string>
  readonly body?: string | Uint8Array<ArrayBuffer>
}

/** What a correct gateway must never answer this case with (a grant from a mutated credential). */
export type Forbidden = "tokens" | "approval" | "code" | "none"

export interface FuzzCase {
  readonly family: string
  readonly label: string
  /** Carries session A's valid bearer: the only cases allowed to reach the target. */
  readonly authorized: boolean
  readonly forbidden: Forbidden
  readonly raw?: Case
  readonly http?: (f: Fixtures) => Outgoing | Promise<Outgoing | undefined>
}

const form = (
  path: string,
  fields: ReadonlyArray<[string, string]>,
  headers: Record<string, string> = {},
) => ({
  method: "POST",
  path,
  headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  body: new URLSearchParams([...fields]).toString(),
})

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`

const raw = (host: string): fc.Arbitrary<FuzzCase> =>
  rawCase(host).map((c) => ({
    family: "raw",
    label: c.label,
    authorized: c.authorized,
    forbidden: "none",
    raw: c,
  }))

/** `fuzz.ts`'s random requests (built against the in-process issuer), re-aimed at the gateway. */
const random: fc.Arbitrary<FuzzCase> = randomRequest.map((make) => ({
  family: "random",
  label: "random request",
  authorized: false,
  forbidden: "none",
  http: async () => {
    let request: Request
    try {
      request = make()
    } catch {
      return undefined // not a request a client could send
    }
    const url = new URL(request.url)
    const body = request.body === null ? undefined : new Uint8Array(await request.arrayBuffer())
    return {
      method: request.method,
      path: `${url.pathname}${url.search}`,
      headers: Object.fromEntries(request.headers),
      ...(body === undefined ? {} : { body }),
    }
  },
}))

/** Which live value goes where: names only, resolved at send time. */
const liveNames = [
  "b.access",
  "b.refresh",
  "b.client",
  "confidential.client",
  "confidential.secret",
  "consent.transaction",
  "consent.csrf",
  "code.code",
  "code.verifier",
  "grant.code",
  "grant.refresh",
] as const
type Live = (typeof liveNames)[number]

const live = (f: Fixtures, name: Live): string =>
  ({
    "b.access": f.b.access_token,
    "b.refresh": f.b.refresh_token,
    "b.client": f.b.client_id,
    "confidential.client": f.confidential.client_id,
    "confidential.secret": f.confidential.client_secret,
    "consent.transaction": f.consent.transaction,
    "consent.csrf": f.consent.csrf,
    "code.code": f.code.code,
    "code.verifier": f.code.verifier,
    "grant.code": "authorization_code",
    "grant.refresh": "refresh_token",
  })[name]

/** Live values in random fields, headers and cookies of every endpoint but the protected path. */
const placed: fc.Arbitrary<FuzzCase> = fc
  .record({
    path: fc.constantFrom("/token", "/revoke", "/consent", "/auth/callback", "/authorize", "/jwks", "/nope"),
    method: fc.constantFrom("GET", "POST"),
    fields: fc.array(
      fc.tuple(
        fc.constantFrom(
          "code",
          "refresh_token",
          "token",
          "transaction",
          "csrf",
          "client_id",
          "client_secret",
          "code_verifier",
          "grant_type",
          "redirect_uri",
          "decision",
        ),
        fc.constantFrom(...liveNames),
      ),
      { maxLength: 6 },
    ),
    auth: fc.constantFrom(...liveNames),
    scheme: fc.constantFrom("Bearer", "Basic", "bearer", "", "basic-pair"),
    cookie: fc.boolean(),
  })
  .map((g) => ({
    family: "placed",
    label: `${g.method} ${g.path} ${g.fields.map(([k, v]) => `${k}=${v}`).join("&")} | ${g.scheme} ${g.auth}${g.cookie ? " | cookies" : ""}`,
    authorized: false,
    forbidden: "none",
    http: (f) => {
      const fields = g.fields.map(([k, v]): [string, string] => [k, live(f, v)])
      const authorization =
        g.scheme === "basic-pair"
          ? basic(f.confidential.client_id, live(f, g.auth))
          : `${g.scheme} ${live(f, g.auth)}`.trim()
      const headers: Record<string, string> = {
        authorization,
        ...(g.cookie
          ? {
              cookie: Object.entries(f.consent.jar)
                .map(([k, v]) => `${k}=${v}`)
                .join("; "),
            }
          : {}),
      }
      return g.method === "GET"
        ? { method: "GET", path: `${g.path}?${new URLSearchParams(fields)}`, headers }
        : form(g.path, fields, headers)
    },
  }))

const pick = <A>(arb: fc.Arbitrary<A>, seed: number): A => fc.sample(arb, { numRuns: 1, seed })[0]!

/** A mutation of one valid request, drawn at send time from the live values and a seed. */
const mutated = (
  kind: string,
  forbidden: Forbidden,
  build: (f: Fixtures, seed: number) => Outgoing,
): fc.Arbitrary<FuzzCase> =>
  fc.nat().map((seed) => ({
    family: `mutated:${kind}`,
    label: `mutated ${kind} (mutation seed ${seed})`,
    authorized: false,
    forbidden,
    http: (f) => build(f, seed),
  }))

const registration = mutated("register", "none", (_, seed) => {
  const valid = {
    redirect_uris: JSON.stringify([clientRedirect]),
    grant_types: JSON.stringify(["authorization_code", "refresh_token"]),
    token_endpoint_auth_method: JSON.stringify("none"),
    client_name: JSON.stringify("fuzz"),
    scope: JSON.stringify("openid"),
  }
  const fields = pick(mutateFields(valid), seed)
  // Each field's (mutated) text goes in as JSON text: mutations may break the document itself.
  const body = `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`
  return { method: "POST", path: "/register", headers: { "content-type": "application/json" }, body }
})

const authorize = mutated("authorize", "none", (f, seed) => {
  const fields = pick(
    mutateFields({
      client_id: f.b.client_id,
      redirect_uri: clientRedirect,
      response_type: "code",
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
      state: "s",
      scope: "openid",
      resource: "http://127.0.0.1/mcp",
    }),
    seed,
  )
  return { method: "GET", path: `/authorize?${new URLSearchParams(fields)}`, headers: {} }
})

const consent = mutated("consent", "approval", (f, seed) => {
  const { transaction, csrf, jar } = f.consent
  const cookieOnly = pick(fc.boolean(), seed)
  const fields = cookieOnly
    ? Object.entries({ transaction, csrf, decision: "approve" })
    : pick(mutateFields({ transaction, csrf, decision: "approve" }, ["transaction", "csrf"]), seed)
  const cookie = cookieOnly
    ? pick(mutateCookies(jar), seed)
    : Object.entries(jar)
        .map(([k, v]) => `${k}=${v}`)
        .join("; ")
  return form("/consent", fields, cookie === "" ? {} : { cookie })
})

const callback = mutated("callback", "code", (f, seed) => {
  const cookieOnly = pick(fc.boolean(), seed)
  const fields = cookieOnly
    ? Object.entries({ state: f.callback.state, code: "fuzz-upstream-code" })
    : pick(mutateFields({ state: f.callback.state, code: "fuzz-upstream-code" }, ["state"]), seed)
  const jar = Object.fromEntries(f.callback.cookie.split("; ").map((p) => p.split("=") as [string, string]))
  const cookie = cookieOnly ? pick(mutateCookies(jar), seed) : f.callback.cookie
  return {
    method: "GET",
    path: `/auth/callback?${new URLSearchParams(fields)}`,
    headers: cookie === "" ? {} : { cookie },
  }
})

const codeGrant = mutated("token:authorization_code", "tokens", (f, seed) =>
  form(
    "/token",
    pick(
      mutateFields({
        grant_type: "authorization_code",
        code: f.code.code,
        redirect_uri: clientRedirect,
        code_verifier: f.code.verifier,
        client_id: f.code.client_id,
      }),
      seed,
    ),
  ),
)

const refreshGrant = mutated("token:refresh_token", "tokens", (f, seed) =>
  form(
    "/token",
    pick(
      mutateFields(
        { grant_type: "refresh_token", refresh_token: f.b.refresh_token, client_id: f.b.client_id },
        ["refresh_token", "grant_type", "client_id"],
      ),
      seed,
    ),
  ),
)

/** The confidential client's Basic credentials mutated, on a grant it could otherwise use. */
const clientAuth = mutated("token:client_secret_basic", "tokens", (f, seed) => {
  const secret = withoutControls(pick(mutateString(f.confidential.client_secret), seed))
  return form("/token", [["grant_type", "client_credentials"]], {
    authorization: basic(
      f.confidential.client_id,
      secret === f.confidential.client_secret ? `${secret}x` : secret,
    ),
  })
})

const otherGrants = fc
  .record({
    grant: fc.constantFrom(
      "client_credentials",
      "password",
      "implicit",
      "urn:ietf:params:oauth:grant-type:device_code",
      "urn:ietf:params:oauth:grant-type:token-exchange",
      "urn:ietf:params:oauth:grant-type:jwt-bearer",
      "urn:openid:params:grant-type:ciba",
      "",
    ),
    confidential: fc.boolean(),
    extra: fc.constantFrom("subject_token", "assertion", "username", "device_code", "scope"),
  })
  .map(
    (g): FuzzCase => ({
      family: "token:other-grants",
      label: `grant_type=${g.grant} ${g.confidential ? "confidential" : "public"} +${g.extra}`,
      authorized: false,
      forbidden: "tokens",
      http: (f) =>
        form(
          "/token",
          [
            ["grant_type", g.grant],
            [g.extra, f.b.access_token],
            ...(g.confidential ? [] : ([["client_id", f.b.client_id]] as Array<[string, string]>)),
          ],
          g.confidential
            ? { authorization: basic(f.confidential.client_id, f.confidential.client_secret) }
            : {},
        ),
    }),
  )

const revoke = mutated("revoke", "none", (f, seed) =>
  form(
    "/revoke",
    pick(
      mutateFields({ token: f.b.refresh_token, token_type_hint: "refresh_token", client_id: f.b.client_id }, [
        "token",
        "token_type_hint",
        "client_id",
      ]),
      seed,
    ),
  ),
)

/** Session A's bearer mutated (never valid): must never reach the target. */
const bearer = mutated("bearer", "none", (f, seed) => {
  const mutated = withoutControls(pick(mutateString(f.a.access_token), seed))
  const token = mutated.trim() === f.a.access_token ? `${f.a.access_token}x` : mutated
  const scheme = pick(fc.constantFrom("Bearer ", "bearer ", "Bearer  ", "DPoP ", ""), seed)
  return {
    method: pick(fc.constantFrom("GET", "POST", "DELETE"), seed),
    path: pick(fc.constantFrom("/mcp", "/mcp/tools/call", "/mcp?x=1"), seed),
    headers: { authorization: `${scheme}${token}`, "content-type": "application/json" },
  }
})

/** Every family, weighted: a third raw at the protected path, the rest spread over the endpoints. */
export const fuzzCase = (host: string): fc.Arbitrary<FuzzCase> =>
  fc.oneof(
    { weight: 10, arbitrary: raw(host) },
    { weight: 7, arbitrary: random },
    { weight: 3, arbitrary: placed },
    { weight: 1, arbitrary: registration },
    { weight: 1, arbitrary: authorize },
    { weight: 1, arbitrary: consent },
    { weight: 1, arbitrary: callback },
    { weight: 1, arbitrary: codeGrant },
    { weight: 1, arbitrary: refreshGrant },
    { weight: 1, arbitrary: clientAuth },
    { weight: 1, arbitrary: otherGrants },
    { weight: 1, arbitrary: revoke },
    { weight: 2, arbitrary: bearer },
  )

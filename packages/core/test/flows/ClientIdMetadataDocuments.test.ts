/**
 * Client ID Metadata Documents through the flows: a URL client_id is fetched (through a scripted
 * `ClientMetadataFetcher`), validated, cached in the store, used at /authorize, /token and
 * /revoke; every refused document or URL leaves nothing fetched or nothing stored, as the rule
 * says; `private_key_jwt` assertions are checked and single use across instances.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { exportJWK, generateKeyPair, SignJWT } from "jose"
import * as ClientLookup from "../../src/ClientLookup.ts"
import * as ClientMetadataFetcher from "../../src/ClientMetadataFetcher.ts"
import * as AuthorizationEndpoint from "../../src/flows/AuthorizationEndpoint.ts"
import * as TokenEndpoint from "../../src/flows/TokenEndpoint.ts"
import { ClientMetadataError, type OAuthFailure } from "../../src/OAuthError.ts"
import * as Store from "../../src/Store.ts"
import { TestStore } from "../../src/testing/index.ts"
import {
  authorizeParams,
  consentViewOf,
  oauthFailure,
  pkce,
  type Registered,
  refusedWithoutChange,
  signIn,
  snapshot,
  start,
  tokenBody,
  withProxy,
} from "./support.ts"

const docUrl = "https://client.example/oauth/client.json"
const redirect = "https://client.example/callback"

const document = (overrides: Record<string, unknown> = {}) => ({
  client_id: docUrl,
  client_name: "Example MCP client",
  redirect_uris: [redirect],
  grant_types: ["authorization_code", "refresh_token"],
  token_endpoint_auth_method: "none",
  ...overrides,
})

interface DocServer {
  readonly requests: Array<string>
  /** What the next fetches answer. */
  answer: (url: string) => Effect.Effect<ClientMetadataFetcher.Fetched, ClientMetadataError>
  readonly layer: Layer.Layer<never>
}

const docServer = (body: unknown = document(), cacheControl?: string): DocServer => {
  const requests: Array<string> = []
  const server: DocServer = {
    requests,
    answer: () => Effect.succeed({ body, cacheControl }),
    layer: Layer.empty,
  }
  return {
    ...server,
    get answer() {
      return server.answer
    },
    set answer(f) {
      server.answer = f
    },
    layer: ClientMetadataFetcher.layerTest((url) => server.answer(url), requests),
  }
}

const unreachable = () =>
  Effect.fail(new ClientMetadataError({ reason: "unreachable", description: "connection refused" }))

const cimdClient = (clientId = docUrl): Registered => ({
  client_id: clientId,
  redirect_uris: [redirect],
  token_endpoint_auth_method: "none",
  body: {},
})

const authorize = (clientId = docUrl, extra: Record<string, string | undefined> = {}) =>
  Effect.gen(function* () {
    const { challenge } = yield* pkce
    return yield* AuthorizationEndpoint.authorize(authorizeParams(cimdClient(clientId), challenge, extra), {})
  })

/** /authorize is refused with an error page (no redirect) and the store is unchanged. */
const refusedPage = (clientId = docUrl) =>
  Effect.gen(function* () {
    const { challenge } = yield* pkce
    const failure = yield* refusedWithoutChange(
      AuthorizationEndpoint.authorize(authorizeParams(cimdClient(clientId), challenge), {}),
      "invalid_request",
    )
    assert.isUndefined(failure.redirect, "an unverified client must not be redirected to")
    return failure
  })

const storedDocuments = Effect.flatMap(TestStore.TestStore, (s) => s.keys("cimd:"))

describe("Client ID Metadata Documents", () => {
  it.effect("authorize - a URL client_id is fetched once, cached, and shown by its verified host", () => {
    const server = docServer()
    return withProxy(
      Effect.gen(function* () {
        const view = consentViewOf(yield* authorize())
        assert.strictEqual(view.clientId, docUrl)
        assert.strictEqual(view.clientHost, "client.example")
        assert.strictEqual(view.clientName, "Example MCP client")
        yield* authorize()
        assert.deepStrictEqual(server.requests, [docUrl], "the second request uses the cached copy")
        assert.strictEqual((yield* storedDocuments).length, 1)
        assert.deepStrictEqual(
          yield* TestStore.TestStore.use((s) => s.keys("client:")),
          [],
          "not a DCR record",
        )
      }).pipe(Effect.provide(server.layer)),
    )
  })

  it.effect("cache - 200 URLs on one host keep at most its cap stored; another host's entry survives", () => {
    const server = docServer()
    // Every URL serves a valid document naming itself.
    server.answer = (url) =>
      Effect.succeed({
        body: document({ client_id: url, redirect_uris: [`${new URL(url).origin}/callback`] }),
        cacheControl: undefined,
      })
    const urlOn = (host: string, i: number) => `https://${host}/clients/${i}.json`
    return withProxy(
      Effect.gen(function* () {
        yield* ClientLookup.fromDocument(docUrl)
        for (let i = 0; i < 200; i++) yield* ClientLookup.fromDocument(urlOn("flood.example", i))
        const stored = yield* storedDocuments
        assert.isAtMost(stored.length, ClientLookup.maxDocumentsPerHost + 1)
        assert.isAtLeast(stored.length, 2)
        const fetched = server.requests.length
        yield* ClientLookup.fromDocument(docUrl)
        assert.strictEqual(server.requests.length, fetched, "the other host's document is still cached")
        // A URL whose slot was taken by a later one is a miss, fetched again, never another's record.
        const again = yield* ClientLookup.fromDocument(urlOn("flood.example", 0))
        assert.strictEqual(again.client_id, urlOn("flood.example", 0))
      }).pipe(Effect.provide(server.layer)),
    )
  })

  it.effect(
    "authorize - pending sign-ins of URL clients are counted per source, whatever URLs are named",
    () => {
      const server = docServer()
      server.answer = (url) =>
        Effect.succeed({
          body: document({ client_id: url, redirect_uris: [`${new URL(url).origin}/callback`] }),
          cacheControl: undefined,
        })
      const transactions = TestStore.TestStore.use((s) => s.keys("txn:"))
      return withProxy(
        Effect.gen(function* () {
          const { challenge } = yield* pkce
          const from = (i: number, source: string) => {
            const url = `https://flood.example/clients/${i}.json`
            const client = { ...cimdClient(url), redirect_uris: ["https://flood.example/callback"] }
            return AuthorizationEndpoint.authorize(authorizeParams(client, challenge), {}, source)
          }
          for (let i = 0; i < 2; i++) yield* from(i, "198.51.100.20")
          // A new client id per request does not reset the source's count.
          for (let i = 2; i < 20; i++) {
            const refused = yield* oauthFailure(from(i, "198.51.100.20"))
            assert.strictEqual(refused.error, "temporarily_unavailable")
            assert.match(refused.description, /from this address/)
          }
          assert.strictEqual((yield* transactions).length, 2)
          // The refused requests' documents stay within the host's cache cap.
          assert.isAtMost((yield* storedDocuments).length, ClientLookup.maxDocumentsPerHost)
          yield* from(20, "198.51.100.21")
          assert.strictEqual((yield* transactions).length, 3)
        }).pipe(Effect.provide(server.layer)),
        { config: { quotas: { authorizations_per_source: 2 } } },
      )
    },
  )

  it.effect("cache - past maxDocumentHosts hosts the oldest host is dropped with its documents", () => {
    const server = docServer()
    server.answer = (url) =>
      Effect.succeed({
        body: document({ client_id: url, redirect_uris: [`${new URL(url).origin}/callback`] }),
        cacheControl: undefined,
      })
    return withProxy(
      Effect.gen(function* () {
        yield* ClientLookup.fromDocument(docUrl)
        yield* ClientLookup.fromDocument("https://second.example/c.json")
        for (let i = 0; i < ClientLookup.maxDocumentHosts - 1; i++)
          yield* ClientLookup.fromDocument(`https://h${i}.example/c.json`)
        assert.strictEqual((yield* storedDocuments).length, ClientLookup.maxDocumentHosts)
        const fetched = server.requests.length
        yield* ClientLookup.fromDocument("https://second.example/c.json")
        assert.strictEqual(server.requests.length, fetched, "the second-oldest host is kept")
        yield* ClientLookup.fromDocument(docUrl)
        assert.strictEqual(server.requests.length, fetched + 1, "the oldest host was dropped")
        assert.strictEqual((yield* storedDocuments).length, ClientLookup.maxDocumentHosts)
      }).pipe(Effect.provide(server.layer)),
    )
  })

  it.effect("cache - Cache-Control max-age is honoured within bounds; stale-if-error is bounded", () => {
    const server = docServer(document(), "public, max-age=120")
    return withProxy(
      Effect.gen(function* () {
        yield* authorize()
        yield* TestClock.adjust("119 seconds")
        yield* authorize()
        assert.strictEqual(server.requests.length, 1, "fresh for max-age")
        yield* TestClock.adjust("2 seconds")
        yield* authorize()
        assert.strictEqual(server.requests.length, 2, "refetched once stale")
        // The document's host goes down: the cached copy keeps working for stale_if_error_seconds.
        server.answer = unreachable
        yield* TestClock.adjust("121 seconds")
        consentViewOf(yield* authorize())
        assert.strictEqual(server.requests.length, 3)
        yield* TestClock.adjust("100 seconds")
        consentViewOf(yield* authorize())
        // Past freshness (120 s) + stale window (200 s): refused.
        yield* TestClock.adjust("101 seconds")
        const failure = yield* refusedPage()
        assert.include(failure.description, "could not be fetched (unreachable)")
      }).pipe(Effect.provide(server.layer)),
      { config: { client_id_metadata_documents: { stale_if_error_seconds: 200 } } },
    )
  })

  it.effect("cache - max-age below the floor or above the ceiling is clamped; no-store is the floor", () =>
    Effect.gen(function* () {
      const fetchesAfter = (cacheControl: string, seconds: number) => {
        const server = docServer(document(), cacheControl)
        return withProxy(
          Effect.gen(function* () {
            yield* authorize()
            yield* TestClock.adjust(`${seconds} seconds`)
            yield* authorize()
            return server.requests.length
          }).pipe(Effect.provide(server.layer)),
          { config: { client_id_metadata_documents: { cache_min_seconds: 30, cache_max_seconds: 600 } } },
        )
      }
      assert.strictEqual(yield* fetchesAfter("max-age=1", 29), 1, "floor 30 s")
      assert.strictEqual(yield* fetchesAfter("max-age=1", 31), 2)
      assert.strictEqual(yield* fetchesAfter("no-store", 29), 1, "no-store is cached for the floor")
      assert.strictEqual(yield* fetchesAfter("max-age=999999", 599), 1)
      assert.strictEqual(yield* fetchesAfter("max-age=999999", 601), 2, "ceiling 600 s")
    }),
  )

  it.effect("fetch failure without a cached copy: error page, nothing stored", () => {
    const server = docServer()
    server.answer = unreachable
    return withProxy(
      Effect.gen(function* () {
        yield* refusedPage()
        assert.strictEqual(server.requests.length, 1)
      }).pipe(Effect.provide(server.layer)),
    )
  })

  it.effect("URL rules - ids that break them are refused without any fetch", () => {
    const server = docServer()
    return withProxy(
      Effect.gen(function* () {
        for (const id of [
          "http://client.example/oauth/client.json",
          "https://client.example",
          "https://client.example/",
          "https://client.example/a/../client.json",
          "https://client.example/./client.json",
          "https://client.example/client.json#frag",
          "https://client.example/client.json?x=1",
          "https://user:pw@client.example/client.json",
          "https://CLIENT.example/client.json",
          `https://client.example/${"a".repeat(1100)}`,
          "http://127.0.0.1:9999/client.json",
        ]) {
          yield* refusedPage(id)
        }
        assert.deepStrictEqual(server.requests, [], "nothing was fetched")
      }).pipe(Effect.provide(server.layer)),
    )
  })

  it.effect("switched off - a URL client_id is an unknown client and nothing is fetched", () => {
    const server = docServer()
    return withProxy(
      Effect.gen(function* () {
        const failure = yield* refusedPage()
        assert.strictEqual(failure.description, "Unknown client_id")
        assert.deepStrictEqual(server.requests, [])
      }).pipe(Effect.provide(server.layer)),
      { config: { client_id_metadata_documents: { enabled: false } } },
    )
  })

  it.effect(
    "dev option - http://127.0.0.1 documents are accepted only when allow_http_loopback is on",
    () => {
      const local = "http://127.0.0.1:9999/client.json"
      const server = docServer(document({ client_id: local }))
      return withProxy(
        Effect.gen(function* () {
          consentViewOf(yield* authorize(local))
          assert.deepStrictEqual(server.requests, [local])
        }).pipe(Effect.provide(server.layer)),
        { config: { client_id_metadata_documents: { allow_http_loopback: true } } },
      )
    },
  )

  it.effect("validation - every invalid document is refused and nothing is stored", () =>
    Effect.gen(function* () {
      const invalid: ReadonlyArray<[string, unknown]> = [
        ["not an object", ["x"]],
        ["client_id differs", document({ client_id: "https://client.example/other.json" })],
        ["client_id with a trailing slash", document({ client_id: `${docUrl}/` })],
        ["no redirect_uris", document({ redirect_uris: undefined })],
        ["empty redirect_uris", document({ redirect_uris: [] })],
        ["javascript redirect", document({ redirect_uris: ["javascript:alert(1)"] })],
        ["http redirect", document({ redirect_uris: ["http://client.example/cb"] })],
        ["client_secret_basic", document({ token_endpoint_auth_method: "client_secret_basic" })],
        ["client_secret_post", document({ token_endpoint_auth_method: "client_secret_post" })],
        ["client_secret_jwt", document({ token_endpoint_auth_method: "client_secret_jwt" })],
        ["a client_secret member", document({ client_secret: "s3cret" })],
        ["private_key_jwt without keys", document({ token_endpoint_auth_method: "private_key_jwt" })],
        [
          "private_key_jwt with a symmetric key",
          document({
            token_endpoint_auth_method: "private_key_jwt",
            jwks: { keys: [{ kty: "oct", k: "AAAA" }] },
          }),
        ],
        [
          "private_key_jwt with a private key",
          document({
            token_endpoint_auth_method: "private_key_jwt",
            jwks: { keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y", d: "d" }] },
          }),
        ],
        ["an unsupported grant", document({ grant_types: ["authorization_code", "password"] })],
      ]
      for (const [why, body] of invalid) {
        const server = docServer(body)
        yield* withProxy(
          Effect.gen(function* () {
            const failure = yield* refusedPage()
            assert.include(failure.description, "client metadata document is invalid", why)
            assert.deepStrictEqual(yield* storedDocuments, [], why)
          }).pipe(Effect.provide(server.layer)),
        )
      }
    }),
  )

  it.effect("validation - a document that turns invalid drops the cached copy", () => {
    const server = docServer(document(), "max-age=60")
    return withProxy(
      Effect.gen(function* () {
        yield* authorize()
        assert.strictEqual((yield* storedDocuments).length, 1)
        server.answer = () =>
          Effect.succeed({ body: document({ redirect_uris: [] }), cacheControl: undefined })
        yield* TestClock.adjust("61 seconds")
        const { challenge } = yield* pkce
        yield* oauthFailure(AuthorizationEndpoint.authorize(authorizeParams(cimdClient(), challenge), {}))
        assert.deepStrictEqual(yield* storedDocuments, [])
      }).pipe(Effect.provide(server.layer)),
    )
  })

  it.effect(
    "token - a public CIMD client completes the flow and redeems its code with client_id only",
    () => {
      const server = docServer()
      return withProxy(
        Effect.gen(function* () {
          const client = cimdClient()
          const signedIn = yield* signIn(client)
          assert.strictEqual(signedIn.location.searchParams.get("iss"), "https://proxy.test")
          const tokens = tokenBody(
            yield* TokenEndpoint.token(
              {
                grant_type: "authorization_code",
                code: signedIn.code,
                redirect_uri: signedIn.redirect_uri,
                code_verifier: signedIn.verifier,
                client_id: docUrl,
              },
              undefined,
            ),
          )
          assert.isString(tokens.refresh_token)
          assert.strictEqual(server.requests.length, 1)
        }).pipe(Effect.provide(server.layer)),
      )
    },
  )
})

describe("private_key_jwt for CIMD clients", () => {
  const keys = Effect.promise(async () => {
    const pair = await generateKeyPair("ES256")
    const other = await generateKeyPair("ES256")
    return {
      privateKey: pair.privateKey,
      otherKey: other.privateKey,
      jwk: { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" },
    }
  })

  const assertion = (
    key: CryptoKey,
    claims: { iss?: string; sub?: string; aud?: string; exp?: number; jti?: string | undefined } = {},
  ) =>
    Effect.promise(() => {
      const now = start
      const jwt = new SignJWT({
        ...(claims.jti === undefined && "jti" in claims ? {} : { jti: claims.jti ?? crypto.randomUUID() }),
      })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(claims.iss ?? docUrl)
        .setSubject(claims.sub ?? docUrl)
        .setAudience(claims.aud ?? "https://proxy.test/token")
        .setIssuedAt(now)
        .setExpirationTime(claims.exp ?? now + 60)
      return jwt.sign(key)
    })

  const redeemWith = (
    signedIn: { code: string; redirect_uri: string; verifier: string },
    form: Record<string, string>,
  ) =>
    TokenEndpoint.token(
      {
        grant_type: "authorization_code",
        code: signedIn.code,
        redirect_uri: signedIn.redirect_uri,
        code_verifier: signedIn.verifier,
        ...form,
      },
      undefined,
    )

  const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

  it.effect(
    "token - a valid assertion authenticates; every bad one is invalid_client and leaves the code",
    () =>
      Effect.gen(function* () {
        const k = yield* keys
        const server = docServer(
          document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
        )
        yield* withProxy(
          Effect.gen(function* () {
            const signedIn = yield* signIn(cimdClient())
            const bad: ReadonlyArray<[string, Effect.Effect<Record<string, string>>]> = [
              ["no assertion", Effect.succeed({ client_id: docUrl })],
              [
                "wrong assertion type",
                Effect.map(assertion(k.privateKey), (a) => ({
                  client_assertion_type: "x",
                  client_assertion: a,
                })),
              ],
              ["other key", Effect.map(assertion(k.otherKey), (a) => ({ client_assertion: a }))],
              [
                "iss differs",
                Effect.map(assertion(k.privateKey, { iss: "https://evil.example/c.json" }), (a) => ({
                  client_assertion: a,
                })),
              ],
              [
                "sub differs",
                Effect.map(assertion(k.privateKey, { sub: "https://evil.example/c.json" }), (a) => ({
                  client_assertion: a,
                })),
              ],
              [
                "aud elsewhere",
                Effect.map(assertion(k.privateKey, { aud: "https://other.test/token" }), (a) => ({
                  client_assertion: a,
                })),
              ],
              [
                "exp too far",
                Effect.map(assertion(k.privateKey, { exp: start + 3600 }), (a) => ({ client_assertion: a })),
              ],
              [
                "expired",
                Effect.map(assertion(k.privateKey, { exp: start - 120 }), (a) => ({ client_assertion: a })),
              ],
              [
                "no jti",
                Effect.map(assertion(k.privateKey, { jti: undefined }), (a) => ({ client_assertion: a })),
              ],
            ]
            for (const [why, form] of bad) {
              const extra = yield* form
              const failure = yield* oauthFailure(
                redeemWith(signedIn, {
                  client_assertion_type: jwtBearer,
                  ...extra,
                }),
              )
              assert.strictEqual(failure.error, "invalid_client", why)
            }
            const good = yield* assertion(k.privateKey)
            const tokens = tokenBody(
              yield* redeemWith(signedIn, { client_assertion_type: jwtBearer, client_assertion: good }),
            )
            assert.isString(tokens.access_token)
            // The same assertion again (on a refresh) is a replay.
            const replay = yield* oauthFailure(
              TokenEndpoint.token(
                {
                  grant_type: "refresh_token",
                  refresh_token: tokens.refresh_token!,
                  client_assertion_type: jwtBearer,
                  client_assertion: good,
                },
                undefined,
              ),
            )
            assert.strictEqual(replay.error, "invalid_client")
            assert.include(replay.description, "already used")
            assert.strictEqual((yield* TestStore.TestStore.use((s) => s.keys("assertion-jti:"))).length, 1)
          }).pipe(Effect.provide(server.layer)),
        )
      }),
  )

  it.effect("token - the jti replay cache holds across instances sharing one store", () =>
    Effect.gen(function* () {
      const k = yield* keys
      const server = docServer(
        document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
      )
      const shared = yield* Store.makeMemory
      const sharedLayer = Layer.succeed(Store.Store, shared)
      const good = yield* assertion(k.privateKey)
      const revokeWith = TokenEndpoint.token(
        {
          grant_type: "authorization_code",
          code: "unknown",
          redirect_uri: redirect,
          code_verifier: "v".repeat(43),
          client_assertion_type: jwtBearer,
          client_assertion: good,
        },
        undefined,
      )
      // Instance A accepts the assertion (the grant itself then fails: unknown code).
      const a = yield* withProxy(oauthFailure(revokeWith).pipe(Effect.provide(server.layer)), {
        store: sharedLayer,
      })
      assert.strictEqual(a.error, "invalid_grant")
      // Instance B (another proxy over the same store) refuses it as a replay.
      const b = yield* withProxy(oauthFailure(revokeWith).pipe(Effect.provide(server.layer)), {
        store: sharedLayer,
      })
      assert.strictEqual(b.error, "invalid_client")
      assert.include(b.description, "already used")
    }),
  )

  /** Authenticates with `clientAssertion` on a code grant for an unknown code: `invalid_grant` once accepted. */
  const useAssertion = (clientAssertion: string) =>
    oauthFailure(
      TokenEndpoint.token(
        {
          grant_type: "authorization_code",
          code: "unknown",
          redirect_uri: redirect,
          code_verifier: "v".repeat(43),
          client_assertion_type: jwtBearer,
          client_assertion: clientAssertion,
        },
        undefined,
      ),
    )

  it.effect("token - used-jti marks are counted per source and per client; refused ones write nothing", () =>
    Effect.gen(function* () {
      const k = yield* keys
      const server = docServer(
        document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
      )
      const from =
        (source: string | undefined) =>
        <R>(effect: Effect.Effect<OAuthFailure, never, R>) =>
          Effect.provideService(effect, ClientMetadataFetcher.Source, source)
      const marks = TestStore.TestStore.use((s) => s.keys("assertion-jti:"))
      yield* withProxy(
        Effect.gen(function* () {
          // Fresh assertions on a bogus code: each is accepted (then invalid_grant) and leaves a mark.
          const first = yield* assertion(k.privateKey)
          for (const a of [first, yield* assertion(k.privateKey), yield* assertion(k.privateKey)])
            assert.strictEqual((yield* from("198.51.100.9")(useAssertion(a))).error, "invalid_grant")
          assert.strictEqual((yield* marks).length, 3)
          // A replay is refused as such and not counted.
          const replay = yield* from("198.51.100.9")(useAssertion(first))
          assert.include(replay.description, "already used")
          // The source's quota is used up: 429 with Retry-After, and no mark.
          const fourth = yield* assertion(k.privateKey)
          const before = yield* snapshot
          const limited = yield* from("198.51.100.9")(useAssertion(fourth))
          assert.strictEqual(limited.error, "temporarily_unavailable")
          assert.match(limited.description, /from this address/)
          assert.isTrue((limited.retry_after ?? 0) > 0)
          assert.deepStrictEqual(yield* snapshot, before)
          // Another source still gets through, until the client's own quota is used up.
          assert.strictEqual((yield* from("198.51.100.10")(useAssertion(fourth))).error, "invalid_grant")
          const byClient = yield* from(undefined)(useAssertion(yield* assertion(k.privateKey)))
          assert.strictEqual(byClient.error, "temporarily_unavailable")
          assert.match(byClient.description, /for this client/)
          assert.strictEqual((yield* marks).length, 4)
          // The window is the longest assertion lifetime: after it the source is admitted again.
          yield* TestClock.adjust("300 seconds")
          const later = yield* assertion(k.privateKey, { exp: start + 360 })
          assert.strictEqual((yield* from("198.51.100.9")(useAssertion(later))).error, "invalid_grant")
        }).pipe(Effect.provide(server.layer)),
        { config: { quotas: { assertions_per_source: 3, assertions_per_client: 4 } } },
      )
    }),
  )

  /** An assertion expiring at `exp` is used, the clock moves by `advance`, and it is used again. */
  const replayAfter = (exp: number, advance: Duration.Input) =>
    Effect.gen(function* () {
      const k = yield* keys
      const server = docServer(
        document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
      )
      return yield* withProxy(
        Effect.gen(function* () {
          const use = useAssertion(yield* assertion(k.privateKey, { exp }))
          // Accepted (the grant itself then fails: unknown code).
          assert.strictEqual((yield* use).error, "invalid_grant")
          yield* TestClock.adjust(advance)
          return yield* use
        }).pipe(Effect.provide(server.layer)),
      )
    })

  it.effect("token - the jti is remembered for as long as the assertion is accepted (exp + leeway)", () =>
    Effect.gen(function* () {
      // Past `exp` but within the default 30 s leeway the assertion still verifies: a replay.
      const replay = yield* replayAfter(start + 60, "89 seconds")
      assert.strictEqual(replay.error, "invalid_client")
      assert.include(replay.description, "already used")
    }),
  )

  it.effect("token - a fractional exp: the jti is remembered to the end of the last accepted second", () =>
    Effect.gen(function* () {
      // jose accepts while the whole second is before exp + 30 s, i.e. through start + 90.999.
      const replay = yield* replayAfter(start + 60.5, "90700 millis")
      assert.strictEqual(replay.error, "invalid_client")
      assert.include(replay.description, "already used")
    }),
  )

  it.effect("token - a jti recorded only after the window closed (slow store) is refused", () =>
    Effect.gen(function* () {
      const k = yield* keys
      const server = docServer(
        document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
      )
      // The second recording takes a second: it starts inside the window and ends past it, after
      // the first use's mark has expired.
      let calls = 0
      const slowSecond = Store.layerTest((memory) => ({
        setIfAbsent: (key, value, ttl) =>
          key.startsWith("assertion-jti:") && ++calls === 2
            ? Effect.andThen(TestClock.adjust("1 second"), memory.setIfAbsent(key, value, ttl))
            : memory.setIfAbsent(key, value, ttl),
      }))
      yield* withProxy(
        Effect.gen(function* () {
          const use = useAssertion(yield* assertion(k.privateKey, { exp: start + 60 }))
          assert.strictEqual((yield* use).error, "invalid_grant")
          yield* TestClock.adjust("89500 millis")
          const replay = yield* use
          assert.strictEqual(replay.error, "invalid_client")
        }).pipe(Effect.provide(server.layer)),
        { store: slowSecond },
      )
    }),
  )

  it.effect("token - of two concurrent requests with one assertion exactly one is accepted", () =>
    Effect.gen(function* () {
      const k = yield* keys
      const server = docServer(
        document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
      )
      // Every read of the replay cache yields first, so a read-then-write check would let both in.
      const slowReads = Store.layerTest((memory) => ({
        get: (key) =>
          key.startsWith("assertion-jti:")
            ? Effect.andThen(Effect.yieldNow, memory.get(key))
            : memory.get(key),
      }))
      yield* withProxy(
        Effect.gen(function* () {
          const first = yield* signIn(cimdClient())
          const second = yield* signIn(cimdClient())
          const good = yield* assertion(k.privateKey)
          const form = { client_assertion_type: jwtBearer, client_assertion: good }
          const results = yield* Effect.all(
            [first, second].map((signedIn) => Effect.result(redeemWith(signedIn, form))),
            { concurrency: "unbounded" },
          )
          const accepted = results.filter((r) => r._tag === "Success")
          const refused = results.flatMap((r) => (r._tag === "Failure" ? [r.failure] : []))
          assert.strictEqual(accepted.length, 1, "exactly one request is accepted")
          assert.strictEqual(refused.length, 1)
          const failure = refused[0] as unknown as { error: string; description: string }
          assert.strictEqual(failure.error, "invalid_client")
          assert.include(failure.description, "already used")
        }).pipe(Effect.provide(server.layer)),
        { store: slowReads },
      )
    }),
  )

  it.effect("token - a store failure recording the jti refuses the request (StoreError: a 503)", () =>
    Effect.gen(function* () {
      const k = yield* keys
      const server = docServer(
        document({ token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [k.jwk] } }),
      )
      const down = Store.layerTest((memory) => ({
        setIfAbsent: (key, value, ttl) =>
          key.startsWith("assertion-jti:")
            ? Effect.fail(Store.storeError("setIfAbsent", new Error("down")))
            : memory.setIfAbsent(key, value, ttl),
      }))
      yield* withProxy(
        Effect.gen(function* () {
          const signedIn = yield* signIn(cimdClient())
          const form = { client_assertion_type: jwtBearer, client_assertion: yield* assertion(k.privateKey) }
          const result = yield* Effect.result(redeemWith(signedIn, form))
          assert.strictEqual(result._tag, "Failure", "never accepted when the jti cannot be recorded")
          const failure = (result as { failure: { _tag: string; operation?: string } }).failure
          assert.strictEqual(failure._tag, "StoreError")
          assert.strictEqual(failure.operation, "setIfAbsent")
        }).pipe(Effect.provide(server.layer)),
        { store: down },
      )
    }),
  )

  it.effect("jwks_uri - the key set is fetched with the document through the same fetcher", () =>
    Effect.gen(function* () {
      const k = yield* keys
      const jwksUri = "https://client.example/jwks.json"
      const server = docServer()
      server.answer = (url) =>
        Effect.succeed({
          body:
            url === jwksUri
              ? { keys: [k.jwk] }
              : document({ token_endpoint_auth_method: "private_key_jwt", jwks_uri: jwksUri }),
          cacheControl: undefined,
        })
      yield* withProxy(
        Effect.gen(function* () {
          const signedIn = yield* signIn(cimdClient())
          const good = yield* assertion(k.privateKey)
          tokenBody(yield* redeemWith(signedIn, { client_assertion_type: jwtBearer, client_assertion: good }))
          assert.deepStrictEqual(server.requests, [docUrl, jwksUri])
        }).pipe(Effect.provide(server.layer)),
      )
    }),
  )
})

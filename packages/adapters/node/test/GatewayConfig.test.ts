/**
 * Tests of the gateway configuration: defaults, every variable reaching its field, bad values
 * named by variable (all at once), unknown variables and enumerated values refused with the
 * closest known one, secrets never echoed, `--help` and the README table.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ProxyConfig } from "@oidc-proxy/core"
import { Effect, Redacted, Result } from "effect"
import * as GatewayConfig from "../src/GatewayConfig.ts"
import { env } from "./fixtures.ts"

const ok = (input: Record<string, string>) => {
  const result = GatewayConfig.decode(input)
  if (Result.isFailure(result)) throw new Error(`expected success, got: ${result.failure.message}`)
  return result.success
}

const issues = (input: Record<string, string>): ReadonlyArray<string> => {
  const result = GatewayConfig.decode(input)
  if (Result.isSuccess(result)) throw new Error("expected the configuration to be refused")
  return result.failure.issues
}

/** One bad value per variable that has a parser able to refuse. */
const badValues: ReadonlyArray<readonly [string, string]> = [
  ["OIDC_PROXY_BASE_URL", "not a url"],
  ["OIDC_PROXY_BASE_URL", "http://127.0.0.1:8080/?q=1"],
  ["OIDC_PROXY_LISTEN", "8080"],
  ["OIDC_PROXY_LISTEN", "127.0.0.1:70000"],
  ["OIDC_PROXY_TARGET", "ftp://127.0.0.1/mcp"],
  ["OIDC_PROXY_TARGET", "http://user:pass@127.0.0.1:9000/mcp"],
  ["OIDC_PROXY_RESOURCE_PATH", "mcp"],
  ["OIDC_PROXY_UPSTREAM_ISSUER", "idp.example.com"],
  ["OIDC_PROXY_UPSTREAM_CLIENT_ID", "   "],
  ["OIDC_PROXY_UPSTREAM_AUTH_METHOD", "private_key_jwt"],
  ["OIDC_PROXY_UPSTREAM_EXTRA_PARAMS", "=x"],
  ["OIDC_PROXY_VERIFY_ID_TOKEN", "maybe"],
  ["OIDC_PROXY_STORE", "mysql://db"],
  ["OIDC_PROXY_STORE", "sqlite:"],
  ["OIDC_PROXY_SECRET", "too-short"],
  ["OIDC_PROXY_PREVIOUS_SECRETS", "a-master-secret-of-at-least-32-bytes!! short"],
  ["OIDC_PROXY_DEV", "yes please"],
  ["OIDC_PROXY_CONSENT", "sometimes"],
  ["OIDC_PROXY_REGISTRATION", "closed"],
  ["OIDC_PROXY_CLIENT_ID_METADATA", "maybe"],
  ["OIDC_PROXY_CLIENT_ID_METADATA_DEV_LOOPBACK", "sure"],
  ["OIDC_PROXY_ACCESS_TOKEN_TTL", "1h"],
  ["OIDC_PROXY_REFRESH_TOKEN_TTL", "0"],
  ["OIDC_PROXY_CODE_TTL", "-5"],
  ["OIDC_PROXY_REFRESH_GRACE", "1.5"],
  ["OIDC_PROXY_CLOCK_TOLERANCE", "301"],
  ["OIDC_PROXY_CALLBACK_PATH", "callback"],
  ["OIDC_PROXY_FORWARD_ACCESS_TOKEN", "2"],
  ["OIDC_PROXY_DOWNSTREAM_TOKEN", "jwt"],
  ["OIDC_PROXY_DOWNSTREAM_TOKEN_HEADER", "x-token"],
  ["OIDC_PROXY_EXCHANGE_ENDPOINT", "http://idp.example.com/token"],
  ["OIDC_PROXY_EXCHANGE_ENDPOINT", "https://idp.example.com/token?x=1"],
  ["OIDC_PROXY_EXCHANGE_RESOURCE", "not a uri"],
  ["OIDC_PROXY_TRUST_UNVERIFIED_EMAIL", "maybe"],
  ["OIDC_PROXY_SHUTDOWN_TIMEOUT", "soon"],
  ["OIDC_PROXY_LOG_LEVEL", "verbose"],
  ["OIDC_PROXY_LOG_FORMAT", "xml"],
  ["OIDC_PROXY_METRICS_LISTEN", "metrics"],
  ["OIDC_PROXY_OTLP_ENDPOINT", "collector:4318"],
]

describe("GatewayConfig", () => {
  it("decode - defaults", () => {
    const config = ok(env())
    assert.strictEqual(config.baseUrl, "http://127.0.0.1:8080")
    assert.deepStrictEqual(config.listen, { host: "127.0.0.1", port: 8080 })
    assert.strictEqual(config.resourcePath, "/mcp")
    assert.strictEqual(config.proxy["resource"], "http://127.0.0.1:8080/mcp")
    assert.strictEqual(config.proxy["issuer"], "http://127.0.0.1:8080")
    assert.strictEqual(config.proxy["verification_mode"], "access_token")
    assert.strictEqual(config.upstream.token_endpoint_auth_method, "client_secret_basic")
    assert.deepStrictEqual(config.store, { _tag: "memory" })
    assert.strictEqual(config.forwardAccessToken, false)
    assert.strictEqual(config.trustUnverifiedEmail, false)
    assert.strictEqual(config.logLevel, "Info")
    assert.strictEqual(config.logFormat, "json")
    assert.strictEqual(config.metricsListen, undefined)
    assert.strictEqual(config.otlpEndpoint, undefined)
    assert.strictEqual(config.shutdownTimeoutSeconds, 10)
    assert.strictEqual(config.secrets.length, 1)
    const { OIDC_PROXY_STORE: _, ...withoutStore } = env()
    assert.deepStrictEqual(ok(withoutStore).store, { _tag: "sqlite", filename: "./oidc-proxy.db" })
  })

  it.effect("decode - the proxy input decodes with core's ProxyConfig, with core's defaults", () =>
    Effect.gen(function* () {
      const decoded = yield* ProxyConfig.decode(ok(env()).proxy)
      assert.deepStrictEqual(decoded.upstream.scopes, ["openid"])
      assert.strictEqual(decoded.consent, "on")
      assert.strictEqual(decoded.callback_path, "/auth/callback")
      assert.strictEqual(decoded.ttl.access_token, 3600)
      assert.strictEqual(decoded.ttl.refresh_token, 2_592_000)
      assert.strictEqual(decoded.ttl.authorization_code, 300)
      assert.strictEqual(decoded.ttl.refresh_grace, 30)
      assert.strictEqual(decoded.clock_tolerance_seconds, 30)
      assert.strictEqual(decoded.registration.enabled, true)
    }),
  )

  it.effect("decode - every variable reaches its field", () =>
    Effect.gen(function* () {
      const config = ok(
        env({
          OIDC_PROXY_BASE_URL: "https://proxy.example.com/",
          OIDC_PROXY_LISTEN: "[::1]:0",
          OIDC_PROXY_RESOURCE_PATH: "/tools/mcp/",
          OIDC_PROXY_UPSTREAM_SCOPES: "openid  email",
          OIDC_PROXY_UPSTREAM_AUTH_METHOD: "client_secret_post",
          OIDC_PROXY_UPSTREAM_AUDIENCE: "api://mcp",
          OIDC_PROXY_UPSTREAM_EXTRA_PARAMS: "prompt=login&resource=urn%3Ax",
          OIDC_PROXY_VERIFY_ID_TOKEN: "true",
          OIDC_PROXY_REQUIRED_SCOPES: "mcp:tools",
          OIDC_PROXY_SCOPES_SUPPORTED: "openid mcp:tools",
          OIDC_PROXY_STORE: "redis://127.0.0.1:6379",
          OIDC_PROXY_CONSENT: "remember",
          OIDC_PROXY_ALLOWED_REDIRECT_URIS: "http://127.0.0.1/** https://app.example/cb",
          OIDC_PROXY_REGISTRATION: "off",
          OIDC_PROXY_REGISTRATION_TOKEN: "registration-token",
          OIDC_PROXY_ACCESS_TOKEN_TTL: "600",
          OIDC_PROXY_REFRESH_TOKEN_TTL: "86400",
          OIDC_PROXY_CODE_TTL: "60",
          OIDC_PROXY_REFRESH_GRACE: "10",
          OIDC_PROXY_CLOCK_TOLERANCE: "0",
          OIDC_PROXY_CALLBACK_PATH: "/oauth/cb",
          OIDC_PROXY_FORWARD_ACCESS_TOKEN: "true",
          OIDC_PROXY_TRUST_UNVERIFIED_EMAIL: "true",
          OIDC_PROXY_LOG_LEVEL: "DEBUG",
          OIDC_PROXY_LOG_FORMAT: "pretty",
          OIDC_PROXY_METRICS_LISTEN: "127.0.0.1:9464",
          OIDC_PROXY_OTLP_ENDPOINT: "http://127.0.0.1:4318",
        }),
      )
      assert.strictEqual(config.baseUrl, "https://proxy.example.com")
      assert.deepStrictEqual(config.listen, { host: "::1", port: 0 })
      assert.strictEqual(config.resourcePath, "/tools/mcp")
      assert.strictEqual(config.upstream.token_endpoint_auth_method, "client_secret_post")
      assert.deepStrictEqual(config.store, { _tag: "redis", url: "redis://127.0.0.1:6379" })
      assert.strictEqual(config.forwardAccessToken, true)
      assert.strictEqual(config.trustUnverifiedEmail, true)
      assert.strictEqual(config.logLevel, "Debug")
      assert.strictEqual(config.logFormat, "pretty")
      assert.deepStrictEqual(config.metricsListen, { host: "127.0.0.1", port: 9464 })
      assert.strictEqual(config.otlpEndpoint?.href, "http://127.0.0.1:4318/")
      const proxy = yield* ProxyConfig.decode(config.proxy)
      assert.strictEqual(proxy.resource, "https://proxy.example.com/tools/mcp")
      assert.strictEqual(proxy.verification_mode, "id_token")
      assert.deepStrictEqual(proxy.upstream.scopes, ["openid", "email"])
      assert.strictEqual(proxy.upstream.audience, "api://mcp")
      assert.deepStrictEqual(proxy.upstream.extra_authorize_params, { prompt: "login", resource: "urn:x" })
      assert.deepStrictEqual(proxy.required_scopes, ["mcp:tools"])
      assert.deepStrictEqual(proxy.scopes_supported, ["openid", "mcp:tools"])
      assert.strictEqual(proxy.consent, "remember")
      assert.deepStrictEqual(proxy.registration.allowed_redirect_uris, [
        "http://127.0.0.1/**",
        "https://app.example/cb",
      ])
      assert.strictEqual(proxy.registration.enabled, false)
      assert.strictEqual(
        proxy.registration.initial_access_token && Redacted.value(proxy.registration.initial_access_token),
        "registration-token",
      )
      assert.deepStrictEqual(proxy.ttl, { ...proxy.ttl, access_token: 600, refresh_token: 86400 })
      assert.strictEqual(proxy.ttl.authorization_code, 60)
      assert.strictEqual(proxy.ttl.refresh_grace, 10)
      assert.strictEqual(proxy.clock_tolerance_seconds, 0)
      assert.strictEqual(proxy.callback_path, "/oauth/cb")
    }),
  )

  it.effect(
    "decode - CIMD is on by default, the loopback dev option off; both switch, the option with a warning",
    () =>
      Effect.gen(function* () {
        const defaults = ok(env({}))
        const d = yield* ProxyConfig.decode(defaults.proxy)
        assert.isTrue(d.client_id_metadata_documents.enabled)
        assert.isFalse(d.client_id_metadata_documents.allow_http_loopback)
        assert.isTrue(d.registration.enabled)
        const switched = ok(
          env({
            OIDC_PROXY_CLIENT_ID_METADATA: "off",
            OIDC_PROXY_CLIENT_ID_METADATA_DEV_LOOPBACK: "true",
            OIDC_PROXY_REGISTRATION: "off",
          }),
        )
        const s = yield* ProxyConfig.decode(switched.proxy)
        assert.isFalse(s.client_id_metadata_documents.enabled)
        assert.isTrue(s.client_id_metadata_documents.allow_http_loopback)
        assert.isFalse(s.registration.enabled)
        assert.isTrue(
          switched.warnings.some((w) => w.startsWith("OIDC_PROXY_CLIENT_ID_METADATA_DEV_LOOPBACK")),
        )
        assert.isFalse(defaults.warnings.some((w) => w.includes("CLIENT_ID_METADATA")))
      }),
  )

  it("decode - downstream token: off by default; FORWARD_ACCESS_TOKEN=true is upstream", () => {
    assert.deepStrictEqual(ok(env()).downstreamToken, { mode: "off" })
    assert.deepStrictEqual(ok(env({ OIDC_PROXY_FORWARD_ACCESS_TOKEN: "true" })).downstreamToken, {
      mode: "upstream",
      header: "x-forwarded-access-token",
    })
  })

  it("decode - downstream token: an exchange with its settings, endpoint and header", () => {
    const config = ok(
      env({
        OIDC_PROXY_DOWNSTREAM_TOKEN: "exchange",
        OIDC_PROXY_DOWNSTREAM_TOKEN_HEADER: "authorization",
        OIDC_PROXY_EXCHANGE_ENDPOINT: "https://sts.example.com/token",
        OIDC_PROXY_EXCHANGE_AUDIENCE: "orders-api",
        OIDC_PROXY_EXCHANGE_RESOURCE: "https://orders.example.com/",
        OIDC_PROXY_EXCHANGE_SCOPE: "orders:read",
      }),
    )
    assert.deepStrictEqual(config.downstreamToken, {
      mode: "exchange",
      header: "authorization",
      endpoint: new URL("https://sts.example.com/token"),
      settings: {
        grant: "exchange",
        audience: "orders-api",
        resource: "https://orders.example.com/",
        scope: "orders:read",
      },
    })
    assert.isTrue(config.forwardAccessToken)
  })

  it("decode - downstream token: contradicting or useless settings are named", () => {
    assert.match(
      issues(env({ OIDC_PROXY_FORWARD_ACCESS_TOKEN: "true", OIDC_PROXY_DOWNSTREAM_TOKEN: "exchange" })).join(
        "\n",
      ),
      /^OIDC_PROXY_FORWARD_ACCESS_TOKEN: true contradicts OIDC_PROXY_DOWNSTREAM_TOKEN=exchange/m,
    )
    assert.match(
      issues(env({ OIDC_PROXY_EXCHANGE_AUDIENCE: "api" })).join("\n"),
      /^OIDC_PROXY_EXCHANGE_AUDIENCE: set, but OIDC_PROXY_DOWNSTREAM_TOKEN is off/m,
    )
    const obo = issues(env({ OIDC_PROXY_DOWNSTREAM_TOKEN: "entra-obo", OIDC_PROXY_EXCHANGE_AUDIENCE: "api" }))
    assert.match(
      obo.join("\n"),
      /^OIDC_PROXY_EXCHANGE_SCOPE: required with OIDC_PROXY_DOWNSTREAM_TOKEN=entra-obo/m,
    )
    assert.match(
      obo.join("\n"),
      /^OIDC_PROXY_EXCHANGE_AUDIENCE: not sent with OIDC_PROXY_DOWNSTREAM_TOKEN=entra-obo/m,
    )
    assert.deepStrictEqual(
      ok(env({ OIDC_PROXY_DOWNSTREAM_TOKEN: "entra-obo", OIDC_PROXY_EXCHANGE_SCOPE: "api://x/.default" }))
        .downstreamToken,
      {
        mode: "entra-obo",
        header: "x-forwarded-access-token",
        endpoint: undefined,
        settings: { grant: "entra-obo", scope: "api://x/.default" },
      },
    )
  })

  it("decode - the default listen address comes from the base URL", () => {
    assert.deepStrictEqual(ok(env({ OIDC_PROXY_BASE_URL: "https://proxy.example.com" })).listen, {
      host: "proxy.example.com",
      port: 443,
    })
    assert.deepStrictEqual(ok(env({ OIDC_PROXY_BASE_URL: "http://localhost" })).listen, {
      host: "localhost",
      port: 80,
    })
  })

  it("decode - the upstream issuer is kept exactly as written", () => {
    const config = ok(env({ OIDC_PROXY_UPSTREAM_ISSUER: "http://127.0.0.1:9100/realms/main/" }))
    assert.strictEqual(
      (config.proxy["upstream"] as Record<string, unknown>)["issuer"],
      "http://127.0.0.1:9100/realms/main/",
    )
  })

  for (const [name, value] of badValues) {
    it(`decode - a bad ${name} (${JSON.stringify(value)}) is refused, naming it`, () => {
      const found = issues(env({ [name]: value }))
      assert.strictEqual(found.length, 1, found.join("\n"))
      assert.isTrue(found[0]!.startsWith(`${name}: `), found[0])
    })
  }

  it("decode - every bad variable is named, not just the first", () => {
    const found = issues(
      env({
        OIDC_PROXY_TARGET: "nope",
        OIDC_PROXY_CONSENT: "sometimes",
        OIDC_PROXY_CODE_TTL: "x",
        OIDC_PROXY_LOG_FORMAT: "xml",
      }),
    )
    assert.deepStrictEqual(
      found.map((i) => i.slice(0, i.indexOf(":"))),
      ["OIDC_PROXY_TARGET", "OIDC_PROXY_CONSENT", "OIDC_PROXY_CODE_TTL", "OIDC_PROXY_LOG_FORMAT"],
    )
  })

  it("decode - required variables are named when missing", () => {
    const found = issues({})
    for (const name of [
      "OIDC_PROXY_BASE_URL",
      "OIDC_PROXY_TARGET",
      "OIDC_PROXY_UPSTREAM_ISSUER",
      "OIDC_PROXY_UPSTREAM_CLIENT_ID",
      "OIDC_PROXY_UPSTREAM_CLIENT_SECRET",
      "OIDC_PROXY_SECRET",
    ]) {
      assert.isTrue(
        found.some((i) => i.startsWith(`${name}: `)),
        `${name} not named in:\n${found.join("\n")}`,
      )
    }
  })

  it("decode - a value only core's ProxyConfig refuses is named by its variable", () => {
    // "~" passes the path parser but not core's callback_path pattern.
    const found = issues(env({ OIDC_PROXY_CALLBACK_PATH: "/cb~x" }))
    assert.strictEqual(found.length, 1, found.join("\n"))
    assert.isTrue(found[0]!.startsWith("OIDC_PROXY_CALLBACK_PATH: "), found[0])
  })

  it("decode - endpoints by hand without the strategy's endpoint are named by variable", () => {
    const byHand = {
      OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: "https://github.com/login/oauth/authorize",
      OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: "https://github.com/login/oauth/access_token",
    }
    const jwt = issues(env(byHand))
    assert.strictEqual(jwt.length, 1, jwt.join("\n"))
    assert.match(jwt[0]!, /^OIDC_PROXY_UPSTREAM_JWKS_URI: required by upstream\.verification "jwt"/)
    const introspection = issues(env({ ...byHand, OIDC_PROXY_UPSTREAM_VERIFICATION: "introspection" }))
    assert.match(introspection[0]!, /^OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: required/)
    const half = issues(
      env({ OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: byHand.OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT }),
    )
    assert.match(
      half[0]!,
      /^OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: required when upstream\.token_endpoint/,
    )
  })

  it.effect("decode - endpoints by hand and the userinfo strategy reach their fields", () =>
    Effect.gen(function* () {
      const config = ok(
        env({
          OIDC_PROXY_UPSTREAM_AUTHORIZATION_ENDPOINT: "https://github.com/login/oauth/authorize",
          OIDC_PROXY_UPSTREAM_TOKEN_ENDPOINT: "https://github.com/login/oauth/access_token",
          OIDC_PROXY_UPSTREAM_REVOCATION_ENDPOINT: "https://idp.example.com/revoke",
          OIDC_PROXY_UPSTREAM_USERINFO_ENDPOINT: "https://api.github.com/user",
          OIDC_PROXY_UPSTREAM_INTROSPECTION_ENDPOINT: "https://idp.example.com/introspect",
          OIDC_PROXY_UPSTREAM_JWKS_URI: "https://idp.example.com/jwks",
          OIDC_PROXY_UPSTREAM_VERIFICATION: "userinfo",
          OIDC_PROXY_UPSTREAM_SUBJECT_CLAIM: "id",
          OIDC_PROXY_UPSTREAM_SCOPES_HEADER: "X-OAuth-Scopes",
          OIDC_PROXY_CACHE_TTL: "30",
        }),
      )
      const proxy = yield* ProxyConfig.decode(config.proxy)
      assert.deepInclude(proxy.upstream, {
        authorization_endpoint: "https://github.com/login/oauth/authorize",
        token_endpoint: "https://github.com/login/oauth/access_token",
        revocation_endpoint: "https://idp.example.com/revoke",
        userinfo_endpoint: "https://api.github.com/user",
        introspection_endpoint: "https://idp.example.com/introspect",
        jwks_uri: "https://idp.example.com/jwks",
        verification: "userinfo",
        subject_claim: "id",
        scopes_header: "X-OAuth-Scopes",
      })
      assert.strictEqual(proxy.cache_ttl_seconds, 30)
    }),
  )

  it("decode - secrets never appear in messages", () => {
    const secrets = {
      OIDC_PROXY_SECRET: "tiny-secret-XYZ",
      OIDC_PROXY_PREVIOUS_SECRETS: "another-tiny-secret-ABC",
      OIDC_PROXY_UPSTREAM_CLIENT_SECRET: "",
      OIDC_PROXY_REGISTRATION_TOKEN: "",
    }
    const result = GatewayConfig.decode(env({ ...secrets, OIDC_PROXY_TARGET: "bad" }))
    assert.isTrue(Result.isFailure(result))
    const text = Result.isFailure(result)
      ? `${result.failure.message}\n${result.failure.issues.join("\n")}`
      : ""
    assert.include(text, "OIDC_PROXY_SECRET")
    assert.include(text, "OIDC_PROXY_PREVIOUS_SECRETS")
    assert.notInclude(text, "tiny-secret-XYZ")
    assert.notInclude(text, "another-tiny-secret-ABC")
  })

  it("decode - secrets stay Redacted in the decoded configuration", () => {
    const config = ok(env())
    assert.strictEqual(String(config.upstream.client_secret), "<redacted>")
    assert.notInclude(JSON.stringify(config), "upstream-client-secret-value")
    assert.notInclude(JSON.stringify(config), "a-master-secret-of-at-least-32-bytes")
  })

  it("decode - without a secret, dev mode generates one with one warning", () => {
    const { OIDC_PROXY_SECRET: _, ...noSecret } = env({ OIDC_PROXY_STORE: "sqlite:./x.db" })
    assert.deepStrictEqual(
      issues(noSecret).map((i) => i.slice(0, i.indexOf(":"))),
      ["OIDC_PROXY_SECRET"],
    )
    const config = ok({ ...noSecret, OIDC_PROXY_DEV: "true" })
    assert.strictEqual(config.warnings.length, 1)
    assert.include(config.warnings[0]!, "OIDC_PROXY_SECRET")
    assert.isAtLeast(Redacted.value(config.secrets[0].secret).length, 32)
    // A fresh secret per start: the generated one is never a constant.
    const again = ok({ ...noSecret, OIDC_PROXY_DEV: "true" })
    assert.notStrictEqual(Redacted.value(again.secrets[0].secret), Redacted.value(config.secrets[0].secret))
  })

  it("decode - previous secrets follow the current one, each with a stable key id", () => {
    const previous = "an-older-master-secret-of-32-bytes-or-more"
    const config = ok(env({ OIDC_PROXY_PREVIOUS_SECRETS: ` ${previous}  ` }))
    assert.strictEqual(config.secrets.length, 2)
    assert.strictEqual(Redacted.value(config.secrets[1]!.secret), previous)
    assert.match(config.secrets[0].kid, /^[\w-]{1,32}$/)
    assert.notStrictEqual(config.secrets[0].kid, config.secrets[1]!.kid)
    // The old secret, made current by a rotation, keeps its key id, so its data stays readable.
    const rotated = ok(env({ OIDC_PROXY_SECRET: previous }))
    assert.strictEqual(rotated.secrets[0].kid, config.secrets[1]!.kid)
  })

  it("decode - an unknown OIDC_PROXY_* variable is refused, naming the closest known one", () => {
    assert.deepStrictEqual(issues(env({ OIDC_PROXY_REQUIRED_SCOPE: "admin" })), [
      "OIDC_PROXY_REQUIRED_SCOPE: unknown variable; did you mean OIDC_PROXY_REQUIRED_SCOPES?",
    ])
    // Any case: a lower-case prefix is still a typo of ours.
    assert.deepStrictEqual(issues(env({ oidc_proxy_consent: "off" })), [
      "oidc_proxy_consent: unknown variable; did you mean OIDC_PROXY_CONSENT?",
    ])
    // Nothing close: no misleading suggestion. Other prefixes are not ours.
    assert.deepStrictEqual(issues(env({ OIDC_PROXY_FOO: "1", OIDC_PROXYFOO: "1", PATH: "/bin" })), [
      "OIDC_PROXY_FOO: unknown variable; see oidc-proxy --help",
    ])
  })

  it("decode - an unknown variable's value is never echoed (it may be a misspelled secret)", () => {
    const text = issues(env({ OIDC_PROXY_SECRT: "very-secret-value-0123456789-abcdef" })).join("\n")
    assert.include(text, "did you mean OIDC_PROXY_SECRET?")
    assert.notInclude(text, "very-secret-value")
  })

  it("decode - every problem at once: unknown variables, bad values, missing ones", () => {
    const { OIDC_PROXY_TARGET: _, ...noTarget } = env({
      OIDC_PROXY_REQUIRED_SCOPE: "admin",
      OIDC_PROXY_LOG_LEVL: "debug",
      OIDC_PROXY_CONSENT: "sometimes",
    })
    assert.deepStrictEqual(
      issues(noTarget).map((i) => i.slice(0, i.indexOf(":"))),
      ["OIDC_PROXY_LOG_LEVL", "OIDC_PROXY_REQUIRED_SCOPE", "OIDC_PROXY_TARGET", "OIDC_PROXY_CONSENT"],
    )
  })

  it("decode - an unknown enumerated value names the variable, the allowed values and the closest", () => {
    assert.deepStrictEqual(issues(env({ OIDC_PROXY_CONSENT: "remeber" })), [
      'OIDC_PROXY_CONSENT: must be one of on, off, remember; did you mean remember? (got "remeber")',
    ])
    assert.deepStrictEqual(issues(env({ OIDC_PROXY_UPSTREAM_AUTH_METHOD: "client_secret_jwt" })), [
      'OIDC_PROXY_UPSTREAM_AUTH_METHOD: must be one of client_secret_basic, client_secret_post; did you mean client_secret_post? (got "client_secret_jwt")',
    ])
    assert.deepStrictEqual(issues(env({ OIDC_PROXY_LOG_LEVEL: "verbose" })), [
      'OIDC_PROXY_LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal, none (got "verbose")',
    ])
    assert.deepStrictEqual(issues(env({ OIDC_PROXY_STORE: "sqlit:./x.db" })), [
      'OIDC_PROXY_STORE: unknown scheme sqlit; must be one of sqlite:PATH, memory, redis://HOST:PORT, rediss://HOST:PORT, postgres://USER:PASSWORD@HOST:PORT/DATABASE; did you mean sqlite? (got "sqlit:./x.db")',
    ])
  })

  it("decode - a password inside a non-secret URL is masked when the value is echoed", () => {
    const text = issues(env({ OIDC_PROXY_STORE: "redis://user:hunter2-password@" })).join("\n")
    assert.include(text, "OIDC_PROXY_STORE")
    assert.notInclude(text, "hunter2-password")
  })

  it("decode - postgres:// and postgresql:// select the Postgres store; a malformed one is refused, its password masked", () => {
    for (const url of [
      "postgres://oidc:pw@db.internal:5432/oidc",
      "postgresql://oidc@db.internal/oidc?sslmode=require",
    ]) {
      const config = Result.getOrThrow(GatewayConfig.decode(env({ OIDC_PROXY_STORE: url })))
      assert.deepStrictEqual(config.store, { _tag: "postgres", url })
    }
    for (const bad of ["postgres://oidc:pa/ss-hunter2@", "postgres://"]) {
      const text = issues(env({ OIDC_PROXY_STORE: bad })).join("\n")
      assert.include(text, "OIDC_PROXY_STORE: must be postgres://USER:PASSWORD@HOST:PORT/DATABASE")
      assert.notInclude(text, "hunter2")
    }
    assert.include(issues(env({ OIDC_PROXY_STORE: "postgress://db/x" })).join("\n"), "did you mean postgres?")
  })

  it("decode - with a Postgres store, PGSSLMODE is checked and libpq TLS variables the store cannot apply are refused by name", () => {
    const store = "postgres://oidc:pw@db/oidc"
    for (const extra of [
      { PGSSLMODE: "verify-full" },
      { PGSSLMODE: "require" },
      { PGSSLROOTCERT: "system" },
    ]) {
      assert.isTrue(Result.isSuccess(GatewayConfig.decode(env({ OIDC_PROXY_STORE: store, ...extra }))))
    }
    for (const [extra, said] of [
      [
        { PGSSLMODE: "verify_full" },
        'PGSSLMODE: must be one of disable, allow, prefer, require, verify-ca, verify-full (got "verify_full")',
      ],
      [
        { PGSSLROOTCERT: "/etc/ssl/db-ca.pem" },
        "PGSSLROOTCERT: set, but the Postgres store does not apply it (only PGSSLROOTCERT=system",
      ],
      [
        { PGSSLCERT: "/c.pem", PGSSLKEY: "/k.pem" },
        "PGSSLKEY: set, but the Postgres store does not apply it (client certificates",
      ],
      [
        { PGSSL: "true" },
        "PGSSL: set, but the Postgres store does not apply it (not a libpq variable; set PGSSLMODE",
      ],
    ] as const) {
      assert.include(issues(env({ OIDC_PROXY_STORE: store, ...extra })).join("\n"), said)
    }
    // Not a Postgres store: libpq's variables are none of the proxy's business.
    assert.isTrue(
      Result.isSuccess(GatewayConfig.decode(env({ OIDC_PROXY_STORE: "memory", PGSSLMODE: "bogus" }))),
    )
  })

  it("decode - a Postgres URL parameter the driver would not honour is refused by name, not sent to the server", () => {
    for (const url of [
      "postgres://oidc:pw@db/oidc?sslmode=verify-full",
      "postgres://oidc:pw@db/oidc?sslmode=disable&application_name=gw",
      "postgres://oidc:pw@db/oidc?sslrootcert=system&target_session_attrs=read-write",
    ]) {
      assert.deepStrictEqual(Result.getOrThrow(GatewayConfig.decode(env({ OIDC_PROXY_STORE: url }))).store, {
        _tag: "postgres",
        url,
      })
    }
    for (const [url, said] of [
      [
        "postgres://oidc@db/oidc?password=hunter2",
        "the URL parameter password is not supported (put the password in the URL",
      ],
      [
        "postgres://oidc:pw@db/oidc?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        "the URL parameter sslrootcert is not supported (only sslrootcert=system is read",
      ],
      [
        "postgres://oidc:pw@db/oidc?sslcert=/c.pem&sslkey=/k.pem",
        "the URL parameter sslcert is not supported (client certificates are not supported)",
      ],
      [
        "postgres://oidc:pw@db/oidc?sslmode=verify_full",
        "the URL parameter sslmode is not supported (must be one of disable",
      ],
      [
        // libpq keeps the last value, the driver's URL reader the first: named once or refused.
        "postgres://oidc:pw@db/oidc?sslmode=disable&sslmode=verify-full",
        "the URL parameter sslmode is given more than once",
      ],
      [
        "postgres://oidc:pw@db/oidc?search_path=evil",
        "the URL parameter search_path is not supported (supported: sslmode",
      ],
    ]) {
      const text = issues(env({ OIDC_PROXY_STORE: url as string })).join("\n")
      assert.include(text, `OIDC_PROXY_STORE: ${said}`)
      assert.notInclude(text, "hunter2")
    }
  })

  it("maskCredentials - a password in the userinfo (even one holding / or @) or in a password= parameter", () => {
    assert.strictEqual(
      GatewayConfig.maskCredentials("postgres://oidc:s3cr/et@x@db:5432/oidc"),
      "postgres://oidc:***@db:5432/oidc",
    )
    assert.strictEqual(
      GatewayConfig.maskCredentials("postgresql://db/oidc?user=oidc&password=s3cret&sslmode=require"),
      "postgresql://db/oidc?user=oidc&password=***&sslmode=require",
    )
  })

  it("maskCredentials - a password holding a space or a tab, and a user name with a space, are masked too", () => {
    for (const [text, masked] of [
      ["postgres://oidc:pass word@db/oidc", "postgres://oidc:***@db/oidc"],
      ["postgres://oidc:pass\tword@db/oidc", "postgres://oidc:***@db/oidc"],
      ["postgres://pg user:hunter2@db/oidc", "postgres://pg user:***@db/oidc"],
      [
        "postgres://db/oidc?password=pass word&sslmode=require",
        "postgres://db/oidc?password=***&sslmode=require",
      ],
    ]) {
      assert.strictEqual(GatewayConfig.maskCredentials(text as string), masked)
    }
  })

  it("read - a long store URL that does not parse is cut after its password is masked, not before", () => {
    // 64 bytes of base64 hold a / (the URL then does not parse) and push the @ past the 80th character.
    const password = `${"hunter2".repeat(11)}/x`
    const text = issues(env({ OIDC_PROXY_STORE: `postgres://oidc:${password}@db:5432/oidc` })).join("\n")
    assert.include(text, "OIDC_PROXY_STORE: must be postgres://USER:PASSWORD@HOST:PORT/DATABASE")
    assert.notInclude(text, "hunter2")
  })

  it("read - the text in effect and its source, per variable", () => {
    const reading = GatewayConfig.read(env({ OIDC_PROXY_CONSENT: "remember" }))
    assert.deepStrictEqual(reading.texts["OIDC_PROXY_CONSENT"], { text: "remember", source: "environment" })
    assert.deepStrictEqual(reading.texts["OIDC_PROXY_CODE_TTL"], { text: "300", source: "default" })
    assert.strictEqual(reading.texts["OIDC_PROXY_UPSTREAM_AUDIENCE"], undefined)
    assert.strictEqual(reading.values.consent, "remember")
    assert.strictEqual(reading.values.codeTtl, 300)
  })

  it("table - enumerated settings carry their values; each proxy path is set by one variable", () => {
    const enumerated = Object.fromEntries(
      GatewayConfig.list.flatMap((x) => (x.values === undefined ? [] : [[x.name, x.values]])),
    )
    assert.deepStrictEqual(enumerated["OIDC_PROXY_CONSENT"], ["on", "off", "remember"])
    assert.deepStrictEqual(enumerated["OIDC_PROXY_UPSTREAM_AUTH_METHOD"], [
      "client_secret_basic",
      "client_secret_post",
    ])
    assert.deepStrictEqual(enumerated["OIDC_PROXY_LOG_FORMAT"], ["json", "pretty"])
    for (const [name, values] of Object.entries(enumerated)) {
      const variable = GatewayConfig.list.find((x) => x.name === name)!
      // Every listed value (store: its scheme) decodes, and --help lists them.
      if (name !== "OIDC_PROXY_STORE")
        for (const value of values) assert.isTrue(Result.isSuccess(variable.parse(value)))
      assert.include(GatewayConfig.help(), `one of: ${values.join(", ")}`)
    }
    const paths = GatewayConfig.list.flatMap((x) => (x.proxy === undefined ? [] : [x.proxy.path]))
    assert.strictEqual(new Set(paths).size, paths.length)
  })

  it("help - lists every variable with its default", () => {
    const text = GatewayConfig.help()
    for (const variable of GatewayConfig.list) {
      const at = text.indexOf(`  ${variable.name} `)
      assert.isAtLeast(at, 0, `${variable.name} missing from --help`)
      const entry = text.slice(at, text.indexOf("\n", text.indexOf("default:", at)))
      const expected =
        variable.defaultText ?? variable.default ?? (variable.required ? "(required)" : "(unset)")
      assert.include(entry, `default: ${expected === "" ? '""' : expected}`)
    }
    assert.strictEqual(GatewayConfig.list.length, Object.keys(GatewayConfig.variables).length)
  })

  it("markdownTable - the README's table is the generated one", () => {
    const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8")
    const table = /<!-- variables:start -->\n([\s\S]*?)\n<!-- variables:end -->/.exec(readme)?.[1]
    assert.strictEqual(
      table,
      GatewayConfig.markdownTable(),
      "the README table disagrees with GatewayConfig's table: run npm run docs:config",
    )
  })

  it("markdownTable - one row per variable", () => {
    const rows = GatewayConfig.markdownTable().split("\n").slice(2)
    assert.deepStrictEqual(
      rows.map((r) => /^\| `([A-Z0-9_]+)` \|/.exec(r)?.[1]),
      GatewayConfig.list.map((x) => x.name),
    )
  })
})

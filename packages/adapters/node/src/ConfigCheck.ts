/**
 * `oidc-proxy check`: validates a configuration without serving. Decodes every variable, reaches
 * the upstream IdP (discovery unless the endpoints are given by hand, then the JWKS it names when
 * upstream tokens are verified as JWTs), opens the store, and reports the effective
 * configuration with the source of each value, secrets redacted, and every problem at once.
 *
 * Adapter (process edge helper, used by `main.ts`). Nothing is listened on; the only side effects
 * are at most two GETs to the IdP and one store read (which, for SQLite, creates the file as a start would).
 * The checks that can run still run when other variables are bad, so one run lists everything.
 *
 * @since 0.1.0
 */
import { Store } from "@oidc-proxy/core"
import { HttpJwks, UpstreamHttp } from "@oidc-proxy/upstream-http"
import { Cause, type Duration, Effect, Exit, Layer, Redacted, References, Result } from "effect"
import { FetchHttpClient } from "effect/http"
import { storeLayer } from "./Gateway.ts"
import * as GatewayConfig from "./GatewayConfig.ts"
import type { StoreSpec } from "./internal/parsers.ts"
import * as NodePolicy from "./NodePolicy.ts"

/**
 * One line of the effective configuration.
 *
 * @category models
 * @since 0.1.0
 */
export interface Setting {
  readonly name: string
  /** The value as shown: secrets as `<redacted>`, URL passwords masked. */
  readonly shown: string
  readonly source: GatewayConfig.Source | "unset"
}

/**
 * What `check` found.
 *
 * @category models
 * @since 0.1.0
 */
export interface Report {
  readonly settings: ReadonlyArray<Setting>
  /** Variables that did not decode, are unknown, or that core refuses. */
  readonly configuration: ReadonlyArray<string>
  /** The upstream IdP or the store could not be reached or is unfit. */
  readonly reachability: ReadonlyArray<string>
  /** What was checked and passed, for the summary. */
  readonly passed: ReadonlyArray<string>
  /** Unsafe choices a start would warn about. */
  readonly warnings: ReadonlyArray<string>
}

/** The first line of an error's message: enough to act on, never a stack. */
const describe = (error: unknown, timeout: Duration.Input): string => {
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : undefined
  if (tag === "TimeoutError") return `no answer within ${String(timeout)}`
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]?.trim()
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined
  const text = message || cause || tag || "failed"
  // Masked before it is cut: a cut inside a password would leave no `@` for the mask to find.
  return GatewayConfig.maskCredentials(text).slice(0, 300)
}

const settingsOf = (reading: GatewayConfig.Reading): Array<Setting> =>
  GatewayConfig.list.map((variable) => {
    const entry = reading.texts[variable.name]
    if (entry === undefined)
      return {
        name: variable.name,
        shown: variable.defaultText === undefined ? "(unset)" : `(${variable.defaultText})`,
        source: "unset",
      }
    const shown =
      variable.secret && entry.text !== "" ? "<redacted>" : GatewayConfig.maskCredentials(entry.text)
    return { name: variable.name, shown: shown === "" ? '""' : shown, source: entry.source }
  })

/** The upstream as the gateway would reach it: discovery or endpoints by hand, and the strategy. */
type UpstreamValues = Pick<
  GatewayConfig.Reading["values"],
  | "upstreamAuthorizationEndpoint"
  | "upstreamTokenEndpoint"
  | "upstreamRevocationEndpoint"
  | "upstreamUserinfoEndpoint"
  | "upstreamIntrospectionEndpoint"
  | "upstreamJwksUri"
  | "upstreamVerification"
>

/**
 * The metadata (discovered, or given by hand), the JWKS it names when the strategy is `jwt`, and
 * whether the IdP accepts the configured client auth method.
 */
const checkUpstream = (
  issuer: string,
  template: string | undefined,
  authMethod: string | undefined,
  values: UpstreamValues,
  timeout: Duration.Input,
) =>
  Effect.gen(function* () {
    const verification = values.upstreamVerification ?? "jwt"
    const metadata = yield* UpstreamHttp.resolveMetadata({
      issuer,
      issuerTemplate: template,
      client_id: "(check)",
      client_secret: Redacted.make(""),
      timeoutDuration: timeout,
      verification,
      endpoints: {
        authorization_endpoint: values.upstreamAuthorizationEndpoint,
        token_endpoint: values.upstreamTokenEndpoint,
        revocation_endpoint: values.upstreamRevocationEndpoint,
        userinfo_endpoint: values.upstreamUserinfoEndpoint,
        introspection_endpoint: values.upstreamIntrospectionEndpoint,
        jwks_uri: values.upstreamJwksUri,
      },
    })
    const problems: Array<string> = []
    // OpenID Connect Discovery §3: absent means client_secret_basic only.
    const methods = metadata.token_endpoint_auth_methods_supported ?? ["client_secret_basic"]
    if (authMethod !== undefined && !methods.includes(authMethod))
      problems.push(
        `${GatewayConfig.variables.upstreamAuthMethod.name}: the upstream IdP does not support ${authMethod} (it lists ${methods.join(", ")})`,
      )
    const jwksUri = metadata.jwks_uri
    if (verification !== "jwt" || jwksUri === undefined)
      return { problems, passed: `upstream ${issuer} resolved, verification ${verification}` }
    const jwks = yield* HttpJwks.make({ jwksUri, timeoutDuration: timeout })
    const keys = yield* jwks.current.pipe(
      Effect.mapError((e) => new Error(`upstream JWKS at ${jwksUri}: ${e.description}`)),
    )
    if (keys.keys.length === 0)
      problems.push(`upstream JWKS at ${jwksUri} has no keys: no upstream token can be verified`)
    return { problems, passed: `upstream ${issuer} discovered, JWKS has ${keys.keys.length} key(s)` }
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** Opens the store as a start would and reads one key. */
const checkStore = (spec: StoreSpec) =>
  Effect.gen(function* () {
    const store = yield* Store.Store
    yield* store.get("oidc-proxy:check")
    return { problems: [], passed: `store ${spec._tag} opened and read` }
  }).pipe(Effect.provide(storeLayer(spec) as Layer.Layer<Store.Store, unknown>))

/** Runs one check with a time limit; any failure becomes one line under `label`. */
const bounded = (
  label: string,
  check: Effect.Effect<{ problems: Array<string>; passed: string }, unknown>,
  timeout: Duration.Input,
) =>
  check.pipe(
    Effect.timeout(timeout),
    Effect.exit,
    Effect.map((exit) =>
      Exit.isSuccess(exit)
        ? exit.value
        : { problems: [`${label}: ${describe(Cause.squash(exit.cause), timeout)}`], passed: undefined },
    ),
  )

/** The policy file's problems, each naming the variable (the gateway would not start with them). */
const policyIssues = (path: string | undefined): ReadonlyArray<string> => {
  if (path === undefined) return []
  const loaded = NodePolicy.load(path)
  return Result.isFailure(loaded) ? loaded.failure.map((reason) => `OIDC_PROXY_POLICY: ${reason}`) : []
}

/**
 * Checks the configuration in `env`. Never throws; every problem is in the report.
 *
 * @category constructors
 * @since 0.1.0
 */
export const run = async (
  env: Readonly<Record<string, string | undefined>>,
  options: { readonly timeoutDuration?: Duration.Input } = {},
): Promise<Report> => {
  const timeout = options.timeoutDuration ?? "5 seconds"
  const reading = GatewayConfig.read(env)
  const decoded = GatewayConfig.decode(env, { randomSecret: () => "x".repeat(32) })
  const configuration = [
    ...(Result.isFailure(decoded) ? decoded.failure.issues : []),
    ...policyIssues(reading.values.policy),
  ]
  const { upstreamIssuer, upstreamIssuerTemplate, upstreamAuthMethod, store } = reading.values
  const checks = [
    ...(upstreamIssuer === undefined
      ? []
      : [
          bounded(
            "upstream",
            checkUpstream(
              upstreamIssuer,
              upstreamIssuerTemplate,
              upstreamAuthMethod,
              reading.values,
              timeout,
            ),
            "15 seconds",
          ),
        ]),
    ...(store === undefined ? [] : [bounded(`store (${store._tag})`, checkStore(store), timeout)]),
  ]
  const results = await Effect.runPromise(
    Effect.all(checks, { concurrency: "unbounded" }).pipe(
      // Adapters log their own retries; the report says what failed.
      Effect.provide(Layer.succeed(References.MinimumLogLevel, "None")),
    ),
  )
  return {
    settings: settingsOf(reading),
    configuration,
    reachability: results.flatMap((r) => r.problems),
    passed: results.flatMap((r) => (r.passed === undefined ? [] : [r.passed])),
    warnings: Result.isSuccess(decoded) ? decoded.success.warnings : [],
  }
}

/**
 * The report as the command prints it, and its exit code: 0 when all passed, 2 when the
 * configuration is bad, 1 when only the IdP or the store failed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const format = (
  report: Report,
): { readonly stdout: string; readonly stderr: string; readonly exitCode: 0 | 1 | 2 } => {
  const width = Math.max(...report.settings.map((s) => s.name.length))
  const lines = report.settings.map((s) => `  ${s.name.padEnd(width)}  ${s.shown}  [${s.source}]`)
  const problems = [...report.configuration, ...report.reachability]
  const stdout = ["effective configuration:", ...lines, ...report.warnings.map((w) => `warning: ${w}`), ""]
  if (problems.length === 0) stdout.push(`ok: configuration decodes; ${report.passed.join("; ")}`, "")
  return {
    stdout: stdout.join("\n"),
    stderr:
      problems.length === 0
        ? ""
        : `${[`oidc-proxy check: ${problems.length} problem(s)`, ...problems.map((p) => `  ${p}`)].join("\n")}\n`,
    exitCode: report.configuration.length > 0 ? 2 : problems.length > 0 ? 1 : 0,
  }
}

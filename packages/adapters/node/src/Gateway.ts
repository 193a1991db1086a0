/**
 * The `oidc-proxy` gateway: the proxy's endpoints, the bearer check, and a reverse proxy to the
 * MCP server behind it, on one Node HTTP listener; `/healthz`, `/readyz`, JSON access logs,
 * Prometheus metrics on a separate listener, optional OTLP traces, graceful shutdown.
 *
 * Adapter (assembly): `ProxyLayer` + the store named by `OIDC_PROXY_STORE` + `WebHandler` with
 * `ReverseProxy` as its `onAuthorized` hook, served by `NodeServer`. Access log lines carry the
 * path only, never a query string (authorization requests and callbacks carry codes and state),
 * never a header.
 *
 * @since 0.1.0
 */

import type { IncomingMessage, ServerResponse } from "node:http"
import {
  type AccessToken,
  Endpoints,
  McpPolicy,
  type OAuthError,
  ProxyConfig,
  Store,
  Upstream,
} from "@oidc-proxy/core"
import { Respond, WebHandler } from "@oidc-proxy/http"
import { PostgresStore } from "@oidc-proxy/store-postgres"
import { RedisStore } from "@oidc-proxy/store-redis"
import { SqliteStore } from "@oidc-proxy/store-sqlite"
import {
  Clock,
  Effect,
  Exit,
  Layer,
  Logger,
  LogLevel,
  ManagedRuntime,
  References,
  Result,
  Scope,
} from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import * as DownstreamTokens from "./DownstreamTokens.ts"
import type { GatewayConfig } from "./GatewayConfig.ts"
import * as AccessLog from "./internal/accessLog.ts"
import * as RequestId from "./internal/requestId.ts"
import * as RequestTarget from "./internal/requestTarget.ts"
import * as ListFiltering from "./ListFiltering.ts"
import * as McpAudit from "./McpAudit.ts"
import * as McpGate from "./McpGate.ts"
import * as Metrics from "./Metrics.ts"
import * as NodeForward from "./NodeForward.ts"
import * as NodePolicy from "./NodePolicy.ts"
import * as NodeServer from "./NodeServer.ts"
import * as ProxyLayer from "./ProxyLayer.ts"
import * as ResourceQuota from "./ResourceQuota.ts"
import * as ReverseProxy from "./ReverseProxy.ts"

/**
 * The services the gateway runs over: the handler's, plus the store (probed by `/readyz`).
 *
 * @category models
 * @since 0.1.0
 */
export type Services = WebHandler.Requirements | Store.Store

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * Replaces the proxy assembled from the configuration (e.g. test layers). The gateway's own
   * settings (listen address, target, logging, metrics) still come from the configuration.
   */
  readonly services?: Layer.Layer<Services, unknown>
  /** The `fetch` used to reach the target. Default: the global one. */
  readonly fetch?: typeof fetch
  /**
   * MCP list filtering: the caller's permission (the policy's predicate for this token). When set,
   * the answers to `tools/list`, `resources/list`, `resources/templates/list` and `prompts/list`
   * show only what it allows (JSON and event-stream answers alike); POSTs to the MCP endpoint then
   * take the Fetch path, their bodies read whole up to `listFilterLimits.maxRequestBytes`.
   * Default: no filtering.
   */
  readonly listFilter?: ReverseProxy.Options["listFilter"]
  /** Bounds of list filtering (`ListFiltering.defaults`). */
  readonly listFilterLimits?: ReverseProxy.Options["listFilterLimits"]
}

/**
 * A running gateway.
 *
 * @category models
 * @since 0.1.0
 */
export interface Gateway {
  /** Where the gateway listens, e.g. `http://127.0.0.1:8080`. */
  readonly url: string
  /** Where `/metrics` is served, when `OIDC_PROXY_METRICS_LISTEN` is set. */
  readonly metricsUrl: string | undefined
  readonly metrics: Metrics.Metrics
  /**
   * Reads the policy file again (SIGHUP): the new policy when it decodes; otherwise the previous
   * one stays in force and the reasons are logged and returned. Without a policy: nothing to do.
   */
  readonly reloadPolicy: () => Result.Result<void, ReadonlyArray<string>>
  /**
   * Stops accepting, lets in-flight requests finish (up to the configured shutdown timeout), then
   * releases the store and flushes traces.
   */
  readonly shutdown: () => Promise<void>
}

/**
 * Wraps the `Store` below it so every failure counts in `oidc_proxy_store_errors_total`. Keeps the
 * store's synchronous read, so the cold bearer check stays synchronous over a memory or SQLite store.
 *
 * @category layers
 * @since 0.1.0
 */
export const countingStore = (metrics: Metrics.Metrics): Layer.Layer<Store.Store, never, Store.Store> =>
  Layer.effect(
    Store.Store,
    Effect.gen(function* () {
      const inner = yield* Store.Store
      const count = <A>(operation: string, effect: Effect.Effect<A, OAuthError.StoreError>) =>
        Effect.tapError(effect, () => Effect.sync(() => metrics.storeError(operation)))
      return Store.Store.of({
        // A synchronous read that throws is asked again through `get`, which counts the failure.
        ...(inner.getSync === undefined ? {} : { getSync: inner.getSync }),
        get: (key) => count("get", inner.get(key)),
        set: (key, value, ttl) => count("set", inner.set(key, value, ttl)),
        delete: (key) => count("delete", inner.delete(key)),
        take: (key) => count("take", inner.take(key)),
        setIfAbsent: (key, value, ttl) => count("setIfAbsent", inner.setIfAbsent(key, value, ttl)),
      })
    }),
  )

/**
 * The store named by `OIDC_PROXY_STORE`.
 *
 * @category layers
 * @since 0.1.0
 */
export const storeLayer = (spec: GatewayConfig["store"]): Layer.Layer<Store.Store, unknown> => {
  switch (spec._tag) {
    case "memory":
      return Store.layerMemory
    case "sqlite":
      return SqliteStore.layer({ filename: spec.filename })
    case "redis":
      return RedisStore.layer({ url: spec.url })
    case "postgres":
      return PostgresStore.layer({ url: spec.url })
  }
}

/**
 * The proxy's services from the configuration: `ProxyLayer` over the configured store, the store
 * itself counting its failures into `metrics`.
 *
 * @category layers
 * @since 0.1.0
 */
export const servicesLayer = (
  config: GatewayConfig,
  metrics: Metrics.Metrics,
): Layer.Layer<Services, unknown> => {
  // One store instance: the same layer value is memoized when built twice in one graph. Merged, not
  // hidden: what the store layer provides besides `Store` (Redis, Postgres: cache invalidation) reaches ProxyLayer.
  const store = countingStore(metrics).pipe(Layer.provideMerge(storeLayer(config.store)))
  return Layer.merge(
    ProxyLayer.layer({
      config: config.proxy,
      secrets: config.secrets,
      store,
      upstream: {
        client_secret: config.upstream.client_secret,
        token_endpoint_auth_method: config.upstream.token_endpoint_auth_method,
      },
    }),
    store,
  )
}

/**
 * Logging (JSON lines or pretty, at the configured level) and, when an endpoint is set, OTLP
 * traces.
 *
 * @category layers
 * @since 0.1.0
 */
export const observabilityLayer = (config: GatewayConfig): Layer.Layer<never> => {
  const logging = Layer.mergeAll(
    Logger.layer([config.logFormat === "json" ? Logger.consoleJson : Logger.consolePretty()]),
    Layer.succeed(References.MinimumLogLevel, config.logLevel),
  )
  if (config.otlpEndpoint === undefined) return logging
  return Layer.merge(
    logging,
    Otlp.layerJson({
      baseUrl: config.otlpEndpoint.href,
      resource: { serviceName: "oidc-proxy" },
      loggerMergeWithExisting: true,
    }).pipe(Layer.provide(FetchHttpClient.layer)),
  )
}

/** The metrics label of a path: a fixed set, so request data never becomes a label. */
const endpointNames = (endpoints: Endpoints.Endpoints): ReadonlyMap<string, string> =>
  new Map([
    [new URL(endpoints.authorization).pathname, "authorize"],
    [new URL(endpoints.token).pathname, "token"],
    [new URL(endpoints.registration).pathname, "register"],
    [new URL(endpoints.revocation).pathname, "revoke"],
    [new URL(endpoints.consent).pathname, "consent"],
    [new URL(endpoints.callback).pathname, "callback"],
    [new URL(endpoints.jwks).pathname, "jwks"],
    ["/healthz", "healthz"],
    ["/readyz", "readyz"],
  ])

const readiness = Effect.gen(function* () {
  const store = yield* Store.Store
  const upstream = yield* Upstream.UpstreamClient
  const storeOk = yield* store
    .get("oidc-proxy:readyz-probe")
    .pipe(Effect.timeout("2 seconds"), Effect.match({ onFailure: () => false, onSuccess: () => true }))
  // The upstream layer only builds once discovery succeeded; check its result is there.
  const upstreamOk = upstream.metadata.token_endpoint !== ""
  return { store: storeOk ? "ok" : "fail", upstream: upstreamOk ? "ok" : "fail" } as const
})

/**
 * Starts the gateway: builds the services (opening the store, discovering the upstream), then
 * listens. Rejects when the services cannot be built or the address cannot be bound.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = async (config: GatewayConfig, options: Options = {}): Promise<Gateway> => {
  const mcp = mcpSetup(config)
  const metrics = Metrics.make()
  const services = options.services ?? servicesLayer(withStepUpScopes(config, mcp), metrics)
  const runtime = ManagedRuntime.make(Layer.merge(services, observabilityLayer(config)))
  try {
    return await startWith(config, options, runtime, metrics, mcp)
  } catch (error) {
    mcp.audit?.close()
    await runtime.dispose()
    throw error
  }
}

/**
 * How a revocation reaches the other instances sharing the configured store, said once at start:
 * the cross-instance channel is a property of the store layer, invisible in the configuration.
 *
 * @category models
 * @since 0.1.0
 */
export const revocationNote = (
  store: GatewayConfig["store"],
  settings: Pick<ProxyConfig.ProxyConfig, "cache_ttl_seconds">,
): string | undefined => {
  switch (store._tag) {
    case "redis":
      return `revocations reach every instance sharing this Redis at once (pub/sub on oidc-proxy:invalidate); within cache_ttl_seconds (${settings.cache_ttl_seconds} s) when a message is lost`
    case "postgres":
      return `revocations reach every instance sharing this Postgres database at once (LISTEN/NOTIFY on oidc_proxy_store_invalidate); within cache_ttl_seconds (${settings.cache_ttl_seconds} s) when a notification is lost`
    case "sqlite":
      return `other instances sharing this SQLite file refuse a revoked token within cache_ttl_seconds (${settings.cache_ttl_seconds} s): SQLite has no cross-instance invalidation`
    case "memory":
      return undefined
  }
}

/** The policy and the audit sink, when configured; a policy file that does not decode stops the start. */
const mcpSetup = (config: GatewayConfig) => {
  const source = config.policyPath === undefined ? undefined : NodePolicy.make(config.policyPath)
  if (source !== undefined && Result.isFailure(source))
    throw new Error(`OIDC_PROXY_POLICY: ${source.failure.join("; ")}`)
  return { policy: source?.success, audit: McpAudit.make(config.audit) }
}

type McpSetup = ReturnType<typeof mcpSetup>

/**
 * The policy's challenge scopes, grantable to any client beyond its registration (read at start: a
 * reload that adds a step-up scope needs a restart before clients can be granted it).
 */
const withStepUpScopes = (config: GatewayConfig, mcp: McpSetup): GatewayConfig =>
  mcp.policy === undefined
    ? config
    : {
        ...config,
        proxy: { ...config.proxy, step_up_scopes: McpPolicy.stepUpScopes(mcp.policy.current()) },
      }

/** The settings and clock the gateway runs with; logs the configuration's warnings and notes once. */
const settingsAndNotes = (config: GatewayConfig, options: Options) =>
  Effect.gen(function* () {
    const settings = yield* ProxyConfig.Settings
    for (const warning of config.warnings) yield* Effect.logWarning(warning)
    const revocation = options.services === undefined ? revocationNote(config.store, settings) : undefined
    if (revocation !== undefined) yield* Effect.logInfo(revocation)
    return { settings, clock: yield* Clock.Clock }
  })

const startWith = async (
  config: GatewayConfig,
  options: Options,
  runtime: ManagedRuntime.ManagedRuntime<Services, unknown>,
  metrics: Metrics.Metrics,
  mcp: McpSetup,
): Promise<Gateway> => {
  const { settings, clock } = await runtime.runPromise(settingsAndNotes(config, options))
  // Held downstream tokens and their exchanges live until shutdown.
  const downstreamScope = Scope.makeUnsafe()
  const downstream = await runtime.runPromise(
    DownstreamTokens.make(config).pipe(Effect.provideService(Scope.Scope, downstreamScope)),
  )
  const resourcePath = new URL(settings.resource).pathname.replace(/\/+$/, "") || "/"
  const log = requestLog(config, runtime)
  const requestId = RequestId.make()
  // A 502 is the gateway's own answer: one error line, as for every other 5xx.
  const unreachable = (failure: ReverseProxy.Unreachable) =>
    log.defect(failure.requestId ?? requestId(), {
      method: failure.method,
      path: failure.path.slice(0, 200),
      error: failure.cause,
    })
  const quota = ResourceQuota.make(runtime, settings.quotas, clock)
  const gate = gateOptions(config, mcp, Endpoints.make(settings).protectedResourceMetadata)
  const listFilter = listFilterOf(config, options, mcp)
  const listFilterLimits = listLimitsOf(config, options, mcp)
  const edge = await runtime.runPromise(
    WebHandler.makeEdge({
      onAuthorized: authorized({
        config,
        options,
        runtime,
        metrics,
        resourcePath,
        onUnreachable: unreachable,
        gate: classifies(config, mcp) ? McpGate.make(gate) : undefined,
        audit: mcp.audit,
        clock,
        downstream,
        quota,
        listFilter,
        listFilterLimits,
      }),
      corsOrigins: config.corsOrigins,
    }),
  )
  const names = endpointNames(Endpoints.make(settings))
  const endpointOf = (path: string) =>
    names.get(path) ??
    (path.includes("/.well-known/") ? "metadata" : edge.isProtected(path) ? "resource" : "other")
  const origin = new URL(config.baseUrl).origin
  const fast = fastPath({
    config,
    options,
    edge,
    clock,
    metrics,
    resourcePath,
    endpointOf,
    requestId,
    accessLog: log.access,
    unreachable,
    gate: classifies(config, mcp) ? gate : undefined,
    audit: mcp.audit,
    listFilter,
    listFilterLimits,
    quota,
  })
  const main = await NodeServer.listen(
    serve({ runtime, edge, metrics, endpointOf, requestId, accessLog: log.access }),
    {
      ...config.listen,
      origin: () => origin,
      allow: (path) => (path === "/healthz" || path === "/readyz" ? ["GET"] : edge.allow(path)),
      onDefect: (defect) => log.defect(requestId(), defect),
      trustedProxies: config.trustedProxies,
      // The target was refused unread: the line names no path.
      onRefused: (method, status) => {
        metrics.request("other", status)
        log.access(requestId(), method, "-", status, performance.now())
      },
      ...(fast === undefined ? {} : { intercept: fast.intercept }),
    },
  )
  const metricsServer =
    config.metricsListen === undefined
      ? undefined
      : await metricsListener(config.metricsListen, metrics).catch(async (error: unknown) => {
          await main.close()
          await fast?.close()
          log.close()
          throw error
        })
  return {
    url: main.url,
    metricsUrl: metricsServer?.url,
    metrics,
    reloadPolicy: () => reloadPolicy(mcp, runtime),
    shutdown: stopper(async () => {
      const timeout = config.shutdownTimeoutSeconds * 1000
      await Promise.all([main.shutdown(timeout), metricsServer?.shutdown(timeout)])
      await fast?.close()
      log.close()
      await runtime.runPromise(Scope.close(downstreamScope, Exit.void))
      mcp.audit?.close()
      await runtime.dispose()
    }),
  }
}

const single = (value: string | ReadonlyArray<string> | undefined): string | null =>
  value === undefined ? null : typeof value === "string" ? value : value.join(", ")

/** A shutdown that runs once, however often it is asked for. */
const stopper = (stop: () => Promise<void>): (() => Promise<void>) => {
  let stopping: Promise<void> | undefined
  return () => {
    stopping ??= stop()
    return stopping
  }
}

/** Whether POSTs to the resource are read and classified: a policy or an audit log is on. */
const classifies = (config: GatewayConfig, mcp: McpSetup): boolean =>
  config.policyPath !== undefined || mcp.audit !== undefined

/**
 * Which listed tools, resources and prompts a caller sees: the embedder's `listFilter`, else the
 * policy in force (read per request, so a reload applies at once), else none.
 */
const listFilterOf = (
  config: GatewayConfig,
  options: Options,
  mcp: McpSetup,
): ReverseProxy.Options["listFilter"] =>
  options.listFilter ??
  (mcp.policy === undefined
    ? undefined
    : (token) => {
        const policy = mcp.policy?.current()
        return policy === undefined
          ? undefined
          : McpPolicy.allowsItem(
              policy,
              McpPolicy.callerOf(token, { trustUnverifiedEmail: config.trustUnverifiedEmail }),
            )
      })

/**
 * The bounds of list filtering: the embedder's; a request bound not given is, under a policy, the
 * policy's (`OIDC_PROXY_POLICY_MAX_BODY`: the gate already read that much; a smaller list bound
 * would refuse with 413 what the variable admits).
 */
const listLimitsOf = (config: GatewayConfig, options: Options, mcp: McpSetup): ListFiltering.Limits => ({
  maxRequestBytes:
    options.listFilterLimits?.maxRequestBytes ??
    (mcp.policy === undefined ? undefined : config.policyMaxBody),
  maxResponseBytes: options.listFilterLimits?.maxResponseBytes,
})

/** The MCP gate's settings: the policy in force (read per request), the body bound. */
const gateOptions = (config: GatewayConfig, mcp: McpSetup, resourceMetadata: string): McpGate.Options => ({
  policy: () => mcp.policy?.current(),
  maxBody: config.policyMaxBody,
  resourceMetadata,
  trustUnverifiedEmail: config.trustUnverifiedEmail,
})

/** SIGHUP: the policy file read again; a bad one keeps the policy in force, and the log says why. */
const reloadPolicy = (mcp: McpSetup, runtime: ManagedRuntime.ManagedRuntime<Services, unknown>) => {
  if (mcp.policy === undefined) return Result.succeed(undefined)
  const result = mcp.policy.reload()
  runtime.runFork(
    Result.isSuccess(result)
      ? Effect.logInfo("policy reloaded")
      : Effect.logError("policy reload failed; the previous policy stays in force").pipe(
          Effect.annotateLogs({ reasons: result.failure }),
        ),
  )
  return result
}

/** The `onAuthorized` hook of the handler: the MCP gate (when on), the reverse proxy, counted and traced. */
const authorized = (input: {
  readonly config: GatewayConfig
  readonly options: Options
  readonly runtime: ManagedRuntime.ManagedRuntime<Services, unknown>
  readonly metrics: Metrics.Metrics
  readonly resourcePath: string
  readonly onUnreachable: (failure: ReverseProxy.Unreachable) => void
  readonly gate: McpGate.Gate | undefined
  readonly audit: McpAudit.McpAudit | undefined
  readonly clock: Clock.Clock
  readonly downstream: DownstreamTokens.Source | undefined
  readonly quota: ResourceQuota.ResourceQuota | undefined
  readonly listFilter: ReverseProxy.Options["listFilter"]
  readonly listFilterLimits: ListFiltering.Limits
}): NonNullable<WebHandler.Options["onAuthorized"]> => {
  const { config, runtime, metrics, gate, audit, clock, downstream, quota } = input
  const forward = ReverseProxy.make({
    target: config.target,
    resourcePath: input.resourcePath,
    downstreamToken: downstream === undefined ? undefined : (token) => runtime.runPromise(downstream(token)),
    downstreamHeader: config.downstreamToken.mode === "off" ? undefined : config.downstreamToken.header,
    trustUnverifiedEmail: config.trustUnverifiedEmail,
    observe: ({ seconds, ok }) => metrics.target(seconds, ok),
    fetch: input.options.fetch,
    onUnreachable: input.onUnreachable,
    listFilter: input.listFilter,
    listFilterLimits: input.listFilterLimits,
  })
  const gated = (request: Request, token: AccessToken.AccessToken, requestId: string | undefined) =>
    gate === undefined
      ? Effect.promise(() => forward(request, token, requestId))
      : Effect.promise(() => gate(request, token, (r) => forward(r, token, requestId))).pipe(
          Effect.tap(({ records }) => {
            const now = clock.currentTimeMillisUnsafe()
            for (const record of records) audit?.write(now, requestId, record)
            return Effect.annotateCurrentSpan(McpAudit.spanAttributes(records))
          }),
          Effect.map(({ response }) => response),
        )
  return async (request, token, requestId) => {
    metrics.bearer("allow")
    metrics.resourcePath("full")
    const refusal = await quota?.check(token.subject)
    if (refusal !== undefined) return Respond.failure(refusal, "json", config.baseUrl)
    return runtime.runPromise(
      gated(request, token, requestId).pipe(
        Effect.tap((response) => Effect.annotateCurrentSpan("http.status_code", response.status)),
        Effect.withSpan("oidc-proxy.forward", { attributes: { "http.method": request.method } }),
      ),
    )
  }
}

type AccessLogLine = (
  requestId: string,
  method: string,
  path: string,
  status: number,
  started: number,
) => void

/**
 * The gateway's log lines: one access line per request (the path only, never a query string nor
 * a header), and one error line per defect below the handler.
 */
const requestLog = (config: GatewayConfig, runtime: ManagedRuntime.ManagedRuntime<Services, unknown>) => {
  const logsRequests = LogLevel.isGreaterThanOrEqualTo("Info", config.logLevel)
  // JSON lines with no OTLP exporter: the same line built from a template and written in batches
  // (~35 µs a request less than a logger fiber and a synchronous write each; a write per batch of
  // up to 10 ms instead of one per event-loop turn: another ~10 µs).
  const directLog =
    logsRequests && config.logFormat === "json" && config.otlpEndpoint === undefined
      ? AccessLog.make()
      : undefined
  const access: AccessLogLine = (requestId, method, path, status, started) => {
    // Below the minimum level the line would be dropped anyway; skip the fiber.
    if (!logsRequests) return
    const duration_ms = Math.round((performance.now() - started) * 10) / 10
    if (directLog !== undefined) {
      directLog.line(requestId, method, path, status, duration_ms)
      return
    }
    runtime.runFork(
      Effect.logInfo("request").pipe(
        Effect.annotateLogs({ request_id: requestId, method, path, status, duration_ms }),
      ),
    )
  }
  const defect = (requestId: string, d: NodeServer.Defect) =>
    runtime.runFork(
      Effect.logError("request failed").pipe(
        Effect.annotateLogs({
          request_id: requestId,
          method: d.method,
          path: d.path,
          ...Respond.describeFailure(d.error),
        }),
      ),
    )
  return { access, defect, close: () => directLog?.close() }
}

/** The gateway's fetch handler: health, readiness, then the proxy; metrics, access log, request id. */
const serve = (input: {
  readonly runtime: ManagedRuntime.ManagedRuntime<Services, unknown>
  readonly edge: WebHandler.Edge
  readonly metrics: Metrics.Metrics
  readonly endpointOf: (path: string) => string
  readonly requestId: () => string
  readonly accessLog: AccessLogLine
}): NodeServer.FetchHandler => {
  const { runtime, edge, metrics, endpointOf } = input
  const handle = async (request: Request, path: string, id: string): Promise<Response> => {
    if (path === "/healthz") return Respond.json(200, { status: "ok" })
    if (path === "/readyz") {
      const checks = await runtime.runPromise(readiness).catch(() => ({ store: "fail", upstream: "fail" }))
      const ready = checks.store === "ok" && checks.upstream === "ok"
      return Respond.json(ready ? 200 : 503, { status: ready ? "ready" : "unavailable", checks })
    }
    return edge.handler(request, id)
  }
  return async (request) => {
    const started = performance.now()
    const id = input.requestId()
    const path = new URL(request.url).pathname
    const response = await handle(request, path, id)
    const endpoint = endpointOf(path)
    metrics.request(endpoint, response.status)
    if (endpoint === "resource" && (response.status === 401 || response.status === 403))
      metrics.bearer(response.status === 401 ? "401" : "403")
    input.accessLog(id, request.method, path, response.status, started)
    const headers = new Headers(response.headers)
    headers.set("x-request-id", id)
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers })
  }
}

/** The `/metrics` listener. */
const metricsListener = (listen: NonNullable<GatewayConfig["metricsListen"]>, metrics: Metrics.Metrics) =>
  NodeServer.listen(
    async (request) =>
      new URL(request.url).pathname === "/metrics"
        ? new Response(metrics.render(), {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          })
        : Respond.json(404, { error: "not_found" }),
    listen,
  )

/**
 * The fast path of the protected resource: a bearer this instance verified recently (the
 * synchronous `LoadAccessToken.makeCachedCheck`, read from the Node request's headers) is
 * forwarded with `NodeForward` — no Web `Request`/`Response`, no Effect runtime. Anything else
 * (not remembered, refused, a route of the proxy, `Expect`, repeated `Authorization`) returns
 * `false` and takes the `WebHandler` path, so every answer but a forwarded one stays the same.
 *
 * A POST the MCP gate or list filtering reads is read here too when it is small plain JSON
 * (`McpGate.readableLength`) and decided by the same functions (`McpGate.allowedBody`): simply
 * allowed, it is forwarded from here with those bytes; anything else — unreadable, invalid,
 * denied, a list request to filter — is handed with its bytes to the `WebHandler` path, whose gate
 * decides it again and answers, so every refusal stays the gate's own.
 * Off when a downstream token is forwarded (it reads the store, may call the IdP), when traces
 * are exported (the forward span) and when a custom `fetch` reaches the target.
 */
const fastPath = (input: {
  readonly config: GatewayConfig
  readonly options: Options
  readonly edge: WebHandler.Edge
  readonly clock: Clock.Clock
  readonly metrics: Metrics.Metrics
  readonly resourcePath: string
  readonly endpointOf: (path: string) => string
  readonly requestId: () => string
  readonly accessLog: AccessLogLine
  readonly unreachable: (failure: ReverseProxy.Unreachable) => void
  /** The MCP gate's settings, when a policy or an audit log classifies POSTs. */
  readonly gate: McpGate.Options | undefined
  readonly audit: McpAudit.McpAudit | undefined
  /** What a caller sees of list answers (`listFilterOf`); their filtering is done here too. */
  readonly listFilter: ReverseProxy.Options["listFilter"]
  readonly listFilterLimits: ListFiltering.Limits
  readonly quota: ResourceQuota.ResourceQuota | undefined
}) => {
  const { config, metrics, clock, edge, endpointOf, accessLog, gate, audit, listFilter, quota } = input
  if (config.forwardAccessToken || config.otlpEndpoint !== undefined || input.options.fetch !== undefined)
    return undefined
  const forwarder = NodeForward.make({
    target: config.target,
    resourcePath: input.resourcePath,
    trustUnverifiedEmail: config.trustUnverifiedEmail,
    observe: ({ seconds, ok }) => metrics.target(seconds, ok),
    onUnreachable: input.unreachable,
    onResponse: (status, forwarded) => {
      metrics.request(endpointOf(forwarded.path), status)
      accessLog(forwarded.requestId, forwarded.method, forwarded.path, status, forwarded.started)
    },
  })
  const targetPath = RequestTarget.makeTargetPath({ target: config.target, resourcePath: input.resourcePath })
  const limits = input.listFilterLimits
  const maxRequestBytes = limits.maxRequestBytes ?? ListFiltering.defaults.maxRequestBytes
  // The full path reads a POST up to the gate's bound, then (list filtering on) up to the list
  // filter's, and answers 413 past either: a body is read here only below both, so one between
  // them gets that 413 here too instead of being forwarded.
  const reading: McpGate.Options =
    gate === undefined
      ? // Without a policy the body is still read (list filtering): every message is allowed.
        {
          policy: () => undefined,
          maxBody: maxRequestBytes,
          resourceMetadata: "",
          trustUnverifiedEmail: config.trustUnverifiedEmail,
        }
      : listFilter === undefined
        ? gate
        : { ...gate, maxBody: Math.min(gate.maxBody, maxRequestBytes) }
  const maxResponseBytes = limits.maxResponseBytes ?? ListFiltering.defaults.maxResponseBytes
  const reads = gate !== undefined || listFilter !== undefined

  /** Counts the request for its subject (when a quota is on), then forwards it. */
  const admitted = (req: IncomingMessage, res: ServerResponse, forward: Forward, read?: NodeForward.Read) => {
    const { incoming, token, target, id, pathname, started } = forward
    metrics.bearer("allow")
    metrics.resourcePath("fast")
    if (quota === undefined) {
      forwarder.forward(req, res, incoming, token, target, id, pathname, started, read)
      return
    }
    // Counted after the bearer decision; the body stays unread (paused) until forwarded.
    quota.admit(token.subject, (refusal) => {
      if (refusal === undefined) {
        forwarder.forward(req, res, incoming, token, target, id, pathname, started, read)
        return
      }
      ResourceQuota.writeRefusal(res, refusal, id)
      metrics.request(endpointOf(pathname), 429)
      accessLog(id, req.method ?? "", pathname, 429, started)
    })
  }

  /** A POST read whole, then forwarded from here when simply allowed, else handed to the full gate. */
  const readThenForward = (
    req: IncomingMessage,
    res: ServerResponse,
    forward: Forward,
    handOff: (body: Uint8Array<ArrayBuffer>) => void,
  ) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.once("end", () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
      const allowed = McpGate.allowedBody(reading, body, forward.token, forward.started)
      if (allowed === undefined) {
        handOff(new Uint8Array(body))
        return
      }
      const { records, lists } = allowed
      // Every answer is filtered, also with no list request in the body (`McpListFilter`).
      const allow = listFilter?.(forward.token)
      const onStatus =
        audit === undefined
          ? undefined
          : (status: number) => {
              const now = clock.currentTimeMillisUnsafe()
              for (const record of records(status)) audit.write(now, forward.id, record)
            }
      admitted(req, res, forward, {
        body,
        onStatus,
        lists: allow === undefined ? undefined : { pending: lists, allow, maxResponseBytes },
      })
    })
    // A caller gone before its body ended gets nothing; its access line says the body was unread.
    req.once("close", () => {
      if (req.complete) return
      res.destroy()
      metrics.request(endpointOf(forward.pathname), 400)
      accessLog(forward.id, "POST", forward.pathname, 400, forward.started)
    })
  }

  /** `req.url` is an admitted origin-form target (`NodeServer.listen`), `q` the index of its `?`. */
  const intercept = (
    req: IncomingMessage,
    res: ServerResponse,
    q: number,
    handOff: (body: Uint8Array<ArrayBuffer>) => void,
  ): boolean => {
    const post = req.method === "POST"
    // A GET's event stream may replay list answers (resumption): filtered on the full path.
    if (listFilter !== undefined && req.method === "GET") return false
    // The MCP gate refuses a body outside a POST.
    if (gate !== undefined && !post && McpGate.hasBody({ get: (n) => single(req.headers[n]) })) return false
    const started = performance.now()
    const raw = req.url ?? "/"
    // A query the URL parser would re-encode takes the Fetch path, which forwards it re-encoded.
    if (!RequestTarget.isSimpleQuery(raw, q)) return false
    const pathname = q === raw.length ? raw : raw.slice(0, q)
    // `WebHandler` routes on the path without trailing slashes: a route of the proxy is never fast.
    const path =
      pathname.length > 1 && pathname.charCodeAt(pathname.length - 1) === 47
        ? pathname.replace(/\/+$/, "")
        : pathname
    if (path === "/healthz" || path === "/readyz") return false
    const incoming = NodeForward.incomingHeaders(req)
    // A browser's request (CORS headers on the answer) and `Expect` take the Fetch path.
    if (incoming["expect"] !== undefined || incoming["origin"] !== undefined) return false
    // A body the gate or the list filter must read: only a small plain JSON one is read here.
    const readsBody = reads && post
    if (readsBody && McpGate.readableLength(incoming, reading.maxBody) === undefined) return false
    const token = edge.tryFast(
      req.method ?? "",
      path,
      incoming["authorization"],
      clock.currentTimeMillisUnsafe(),
    )
    if (token === undefined) return false
    const forward: Forward = {
      incoming,
      token,
      target: targetPath(pathname, RequestTarget.searchOf(raw, q)),
      id: input.requestId(),
      pathname,
      started,
    }
    if (readsBody) readThenForward(req, res, forward, handOff)
    else admitted(req, res, forward)
    return true
  }
  return { intercept, close: forwarder.close }
}

/** One request on the fast path, authorized. */
interface Forward {
  readonly incoming: Record<string, string>
  readonly token: AccessToken.AccessToken
  readonly target: string
  readonly id: string
  readonly pathname: string
  readonly started: number
}

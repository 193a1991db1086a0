/**
 * The gateway's Prometheus metrics: requests by endpoint and status class, bearer checks by
 * result, target latency, store errors, and the process's resident memory, V8 heap and active
 * handles (read at render time, so a soak can watch them flat or growing) — rendered in the
 * Prometheus text format.
 *
 * Adapter (observability), no dependencies. Label values come from fixed sets (endpoint names,
 * status classes), never from request data, so the number of series stays bounded.
 *
 * @see [Prometheus text exposition format](https://prometheus.io/docs/instrumenting/exposition_formats/)
 * @since 0.1.0
 */

/**
 * @category models
 * @since 0.1.0
 */
export type BearerResult = "allow" | "401" | "403"

/**
 * Which path handled an authorized request: `fast` (the Node fast path: a remembered bearer, a
 * small plain-JSON body decided there) or `full` (the Fetch path and its gate).
 *
 * @category models
 * @since 0.1.0
 */
export type ResourcePath = "fast" | "full"

/**
 * @category models
 * @since 0.1.0
 */
export interface Metrics {
  readonly request: (endpoint: string, status: number) => void
  readonly bearer: (result: BearerResult) => void
  readonly resourcePath: (path: ResourcePath) => void
  readonly target: (seconds: number, ok: boolean) => void
  readonly storeError: (operation: string) => void
  /** The Prometheus text of every metric. */
  readonly render: () => string
}

/**
 * Upper bounds of the target latency histogram, in seconds.
 *
 * @category constants
 * @since 0.1.0
 */
export const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const

const labels = (pairs: Record<string, string>) =>
  `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",")}}`

/** The process gauges, read when rendered. */
const processGauges = (): Array<string> => {
  const memory = process.memoryUsage()
  const gauge = (name: string, help: string, value: number) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} gauge`,
    `${name} ${value}`,
  ]
  return [
    ...gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss),
    ...gauge("nodejs_heap_size_used_bytes", "V8 heap in use, bytes.", memory.heapUsed),
    ...gauge("nodejs_heap_size_total_bytes", "V8 heap allocated, bytes.", memory.heapTotal),
    ...gauge(
      "nodejs_active_resources",
      "Resources keeping the event loop alive (sockets, timers, handles).",
      process.getActiveResourcesInfo().length,
    ),
  ]
}

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`

/**
 * A fresh set of metrics.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): Metrics => {
  const requests = new Map<string, number>()
  const bearer = new Map<string, number>()
  const paths = new Map<string, number>()
  const pathKeys: Record<ResourcePath, string> = {
    fast: labels({ path: "fast" }),
    full: labels({ path: "full" }),
  }
  const storeErrors = new Map<string, number>()
  const bucketCounts = new Map<string, Array<number>>()
  const sums = new Map<string, number>()
  const counts = new Map<string, number>()
  const requestKeys = new Map<string, string>()
  const bearerKeys: Record<BearerResult, string> = {
    allow: labels({ result: "allow" }),
    "401": labels({ result: "401" }),
    "403": labels({ result: "403" }),
  }
  const inc = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by)

  const counter = (name: string, help: string, map: Map<string, number>) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} counter`,
    ...[...map].map(([key, n]) => `${name}${key} ${n}`),
  ]

  return {
    request: (endpoint, status) => {
      // Label sets come from fixed sets: render each once.
      const id = `${endpoint} ${Math.floor(status / 100)}`
      let key = requestKeys.get(id)
      if (key === undefined) {
        key = labels({ endpoint, status_class: statusClass(status) })
        requestKeys.set(id, key)
      }
      inc(requests, key)
    },
    bearer: (result) => inc(bearer, bearerKeys[result]),
    resourcePath: (path) => inc(paths, pathKeys[path]),
    target: (seconds, ok) => {
      const key = ok ? "ok" : "error"
      let buckets = bucketCounts.get(key)
      if (buckets === undefined) {
        buckets = latencyBuckets.map(() => 0)
        bucketCounts.set(key, buckets)
      }
      for (let i = latencyBuckets.length - 1; i >= 0 && seconds <= latencyBuckets[i]!; i--)
        buckets[i] = buckets[i]! + 1
      inc(sums, key, seconds)
      inc(counts, key)
    },
    storeError: (operation) => inc(storeErrors, labels({ operation })),
    render: () => {
      const histogram = "oidc_proxy_target_request_duration_seconds"
      const lines = [
        ...counter("oidc_proxy_http_requests_total", "HTTP requests by endpoint and status class.", requests),
        ...counter(
          "oidc_proxy_bearer_checks_total",
          "Bearer checks on the protected resource by result.",
          bearer,
        ),
        ...counter(
          "oidc_proxy_resource_path_total",
          "Authorized requests to the protected resource by the path that handled them (fast or full).",
          paths,
        ),
        ...counter("oidc_proxy_store_errors_total", "Failed store operations by operation.", storeErrors),
        `# HELP ${histogram} Time from forwarding a request to the target's response headers.`,
        `# TYPE ${histogram} histogram`,
      ]
      for (const [outcome, buckets] of bucketCounts) {
        latencyBuckets.forEach((le, i) =>
          lines.push(`${histogram}_bucket${labels({ outcome, le: String(le) })} ${buckets[i] ?? 0}`),
        )
        lines.push(`${histogram}_bucket${labels({ outcome, le: "+Inf" })} ${counts.get(outcome) ?? 0}`)
        lines.push(`${histogram}_sum${labels({ outcome })} ${sums.get(outcome) ?? 0}`)
        lines.push(`${histogram}_count${labels({ outcome })} ${counts.get(outcome) ?? 0}`)
      }
      lines.push(...processGauges())
      return `${lines.join("\n")}\n`
    },
  }
}

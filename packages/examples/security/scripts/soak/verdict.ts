/**
 * The soak's arithmetic and its plot: percentiles, the least-squares slope of a series per
 * minute, the verdict over the second half of a run, and a self-contained SVG of the samples.
 *
 * Script support (`npm run soak`); pure functions, no I/O.
 */

/** One sample of the run: per gateway RSS, heap and open fds; latency over the last interval. */
export interface Sample {
  /** Seconds since the start of the run. */
  readonly t: number
  readonly rssMb: ReadonlyArray<number>
  readonly heapMb: ReadonlyArray<number>
  readonly fds: ReadonlyArray<number>
  readonly handles: ReadonlyArray<number>
  readonly p50: number
  readonly p99: number
  readonly requests: number
  /** The fault under way when sampled, if any. */
  readonly fault: string | undefined
}

/** The `q` quantile (0-1) of `values` (nearest rank); 0 for none. */
export const percentile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** Least-squares slope of `ys` over `ts` (seconds), per minute; 0 under two points. */
export const slopePerMinute = (ts: ReadonlyArray<number>, ys: ReadonlyArray<number>): number => {
  const n = Math.min(ts.length, ys.length)
  if (n < 2) return 0
  const mt = ts.slice(0, n).reduce((a, b) => a + b, 0) / n
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (ts[i]! - mt) * (ys[i]! - my)
    den += (ts[i]! - mt) ** 2
  }
  return den === 0 ? 0 : (num / den) * 60
}

export interface Verdict {
  readonly flat: boolean
  /** RSS slope per gateway, MB per minute, over the second half. */
  readonly rssSlopes: ReadonlyArray<number>
  /** p99 slope, ms per minute, over the second half. */
  readonly p99Slope: number
  readonly reasons: ReadonlyArray<string>
}

/**
 * Flat when, over the second half of the run, no gateway's RSS grows faster than `rssMbPerMin`
 * (default 2 MB/min: 120 MB an hour) and p99 grows by less than `p99Share` (default 10 %) of its
 * median per minute.
 */
export const verdict = (
  samples: ReadonlyArray<Sample>,
  limits: { readonly rssMbPerMin?: number; readonly p99Share?: number } = {},
): Verdict => {
  const half = samples.slice(Math.floor(samples.length / 2))
  const ts = half.map((s) => s.t)
  const gateways = half[0]?.rssMb.length ?? 0
  const rssSlopes = Array.from({ length: gateways }, (_, g) =>
    slopePerMinute(
      ts,
      half.map((s) => s.rssMb[g]!),
    ),
  )
  const p99s = half.map((s) => s.p99)
  const p99Slope = slopePerMinute(ts, p99s)
  const rssLimit = limits.rssMbPerMin ?? 2
  const p99Limit = (limits.p99Share ?? 0.1) * percentile(p99s, 0.5)
  const reasons = [
    ...rssSlopes.flatMap((s, g) =>
      s > rssLimit ? [`gateway ${g + 1} RSS grows ${s.toFixed(2)} MB/min (limit ${rssLimit})`] : [],
    ),
    ...(p99Slope > p99Limit
      ? [`p99 grows ${p99Slope.toFixed(2)} ms/min (limit ${p99Limit.toFixed(2)})`]
      : []),
  ]
  return { flat: reasons.length === 0, rssSlopes, p99Slope, reasons }
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

interface Series {
  readonly name: string
  readonly color: string
  readonly values: ReadonlyArray<number>
}

/** One panel: the series as polylines over time, fault intervals shaded, min and max labelled. */
const panel = (samples: ReadonlyArray<Sample>, title: string, series: ReadonlyArray<Series>, top: number) => {
  const [w, h, left] = [860, 150, 60]
  const tMax = Math.max(1, ...samples.map((s) => s.t))
  const all = series.flatMap((s) => s.values)
  const yMax = Math.max(1e-9, ...all) * 1.1
  const x = (t: number) => left + (t / tMax) * w
  const y = (v: number) => top + h - (v / yMax) * h
  const shades = samples
    .filter((s) => s.fault !== undefined)
    .map((s) => `<rect x="${x(s.t) - 2}" y="${top}" width="4" height="${h}" fill="#fdd" />`)
  const lines = series.map(
    (s) =>
      `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.values
        .map((v, i) => `${x(samples[i]!.t).toFixed(1)},${y(v).toFixed(1)}`)
        .join(" ")}" />`,
  )
  const legend = series.map(
    (s, i) =>
      `<text x="${left + 300 + i * 130}" y="${top - 4}" fill="${s.color}">${escapeXml(s.name)}</text>`,
  )
  return [
    `<text x="${left}" y="${top - 4}" font-weight="bold">${escapeXml(title)}</text>`,
    `<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#999" />`,
    `<text x="4" y="${top + 10}">${yMax.toFixed(1)}</text><text x="4" y="${top + h}">0</text>`,
    ...shades,
    ...lines,
    ...legend,
  ].join("\n")
}

const colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]

/** The samples as a self-contained SVG: RSS, heap, latency and fds panels; faults shaded red. */
export const svg = (samples: ReadonlyArray<Sample>, title: string): string => {
  const gateways = samples[0]?.rssMb.length ?? 0
  const per = (name: string, pick: (s: Sample) => ReadonlyArray<number>) =>
    Array.from({ length: gateways }, (_, g) => ({
      name: `${name} gw${g + 1}`,
      color: colors[g % colors.length]!,
      values: samples.map((s) => pick(s)[g]!),
    }))
  const panels = [
    panel(
      samples,
      "RSS (MB)",
      per("rss", (s) => s.rssMb),
      50,
    ),
    panel(
      samples,
      "V8 heap used (MB)",
      per("heap", (s) => s.heapMb),
      240,
    ),
    panel(
      samples,
      "latency (ms)",
      [
        { name: "p50", color: colors[2]!, values: samples.map((s) => s.p50) },
        { name: "p99", color: colors[3]!, values: samples.map((s) => s.p99) },
      ],
      430,
    ),
    panel(
      samples,
      "open fds",
      per("fds", (s) => s.fds),
      620,
    ),
  ]
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="940" height="800" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white" />`,
    `<text x="60" y="20" font-size="14">${escapeXml(title)}</text>`,
    ...panels,
    `<text x="60" y="790">time → ${Math.max(0, ...samples.map((s) => s.t)).toFixed(0)} s; red: a fault under way</text>`,
    "</svg>",
  ].join("\n")
}

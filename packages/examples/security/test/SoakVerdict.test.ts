/**
 * The soak's verdict (`scripts/soak/verdict.ts`): the least-squares slope per minute, the
 * flat / not flat call over the second half of a run, and the SVG it writes.
 */
import { describe, expect, it } from "vitest"
import { percentile, type Sample, slopePerMinute, svg, verdict } from "../scripts/soak/verdict.ts"

const sample = (t: number, rss: number, p99: number, fault?: string): Sample => ({
  t,
  rssMb: [rss, 50],
  heapMb: [10, 10],
  fds: [30, 30],
  handles: [5, 5],
  p50: 2,
  p99,
  requests: 100,
  fault,
})

describe("soak verdict", () => {
  it("slopePerMinute - exact on a line, per minute, 0 when undefined", () => {
    expect(slopePerMinute([0, 30, 60, 90], [10, 11, 12, 13])).toBeCloseTo(2)
    expect(slopePerMinute([0, 60], [5, 5])).toBe(0)
    expect(slopePerMinute([0], [5])).toBe(0)
    expect(slopePerMinute([10, 10], [1, 2])).toBe(0)
  })

  it("percentile - nearest rank", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(values, 0.5)).toBe(50)
    expect(percentile(values, 0.99)).toBe(99)
    expect(percentile([], 0.99)).toBe(0)
  })

  it("verdict - growth in the first half only is flat; growth in the second half is not, with the reason", () => {
    const warmUp = Array.from({ length: 20 }, (_, i) => sample(i * 6, i < 10 ? 40 + i * 5 : 90, 20))
    const flat = verdict(warmUp)
    expect(flat.flat).toBe(true)
    expect(flat.rssSlopes[0]).toBeCloseTo(0)
    const leak = Array.from({ length: 20 }, (_, i) => sample(i * 6, 40 + i, 20 + i))
    const grown = verdict(leak)
    expect(grown.flat).toBe(false)
    expect(grown.rssSlopes[0]).toBeCloseTo(10)
    expect(grown.p99Slope).toBeCloseTo(10)
    expect(grown.reasons.join("\n")).toMatch(/gateway 1 RSS grows 10\.00 MB\/min[\s\S]*p99 grows/)
  })

  it("svg - one document, a polyline per series, faults shaded, text escaped", () => {
    const samples = [sample(0, 40, 10), sample(5, 41, 30, "redis <restart>"), sample(10, 42, 12)]
    const doc = svg(samples, "soak <2 gateways>")
    expect(doc.startsWith("<svg xmlns=")).toBe(true)
    expect(doc.trim().endsWith("</svg>")).toBe(true)
    expect(doc).toContain("soak &lt;2 gateways&gt;")
    // RSS, heap and fds per gateway (2 × 3) and p50 + p99.
    expect(doc.match(/<polyline /g)).toHaveLength(8)
    expect(doc.match(/fill="#fdd"/g)).toHaveLength(4)
    expect(doc).not.toMatch(/https?:\/\/(?!www\.w3\.org)/)
  })
})

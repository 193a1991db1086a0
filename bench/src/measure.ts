/**
 * Measuring: CPU time per operation (`process.cpuUsage`, every thread of the process — WebCrypto's
 * thread pool included), throughput with many operations in flight, medians over runs.
 */

/** One measured run. */
export interface Run {
  /** Microseconds of process CPU per operation. */
  readonly cpuUs: number
  /** Operations per second (wall clock). */
  readonly opsPerSec: number
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const cpuNow = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** Runs `op(i)` `n` times with `inFlight` operations outstanding at once. */
export const measureAsync = async (
  n: number,
  inFlight: number,
  op: (i: number) => Promise<unknown>,
): Promise<Run> => {
  let next = 0
  const cpu = cpuNow()
  const wall = performance.now()
  await Promise.all(
    Array.from({ length: Math.min(inFlight, n) }, async () => {
      while (next < n) await op(next++)
    }),
  )
  const seconds = (performance.now() - wall) / 1000
  return { cpuUs: (cpuNow() - cpu) / n, opsPerSec: n / seconds }
}

/** Runs the synchronous `op(i)` `n` times. */
export const measureSync = (n: number, op: (i: number) => unknown): Run => {
  const cpu = cpuNow()
  const wall = performance.now()
  for (let i = 0; i < n; i++) op(i)
  const seconds = (performance.now() - wall) / 1000
  return { cpuUs: (cpuNow() - cpu) / n, opsPerSec: n / seconds }
}

/** A figure: the median of each measure over `runs` runs (after one warm-up run). */
export interface Figure {
  readonly cpuUs: number
  readonly opsPerSec: number
  readonly runs: number
}

export const repeat = async (runs: number, once: (run: number) => Promise<Run> | Run): Promise<Figure> => {
  await once(-1)
  const results: Array<Run> = []
  for (let r = 0; r < runs; r++) results.push(await once(r))
  return {
    cpuUs: median(results.map((x) => x.cpuUs)),
    opsPerSec: median(results.map((x) => x.opsPerSec)),
    runs,
  }
}

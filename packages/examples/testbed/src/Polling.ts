/**
 * Bounded waiting for something a test started (a process listening, a store coming back).
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Polls `probe` every `intervalMs` until it returns a value other than `undefined`; fails after
 * `timeoutMs` naming `what` and the last value seen.
 *
 * @since 0.1.0
 */
export const waitFor = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  options: { readonly timeoutMs: number; readonly intervalMs?: number },
): Promise<A> => {
  const deadline = performance.now() + options.timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (performance.now() > deadline)
      throw new Error(`${what}: not within ${options.timeoutMs} ms (last: ${String(last)})`)
    await sleep(options.intervalMs ?? 100)
  }
}

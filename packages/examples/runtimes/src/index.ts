/**
 * Serving a Web `fetch` module on Bun, Deno and workerd in tests.
 *
 * @since 0.1.0
 */
export { bundleWorker, workerSource } from "./bundle.ts"
export * as Runtimes from "./Runtimes.ts"

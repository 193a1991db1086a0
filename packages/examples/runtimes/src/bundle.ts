/**
 * Bundles `packages/examples/web-handler/src/worker.ts` — the proxy as a Web `fetch` module, with
 * the memory store — into one ESM file that Bun, Deno and workerd load as is (workerd takes one
 * module or a list of modules, not a `node_modules` tree).
 *
 * Test helper. By default the workspace packages are bundled from their sources (the `@oidc-proxy/source`
 * condition), so the bundle needs no `pnpm -r build`; third-party packages from their published
 * builds, preferring their Workers/browser entries. The bundle must import nothing: an import left
 * in it (a `node:` built-in, say) fails here, naming it, rather than later on one runtime.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { build } from "rolldown"

/**
 * The web-handler example's module.
 *
 * @category constants
 * @since 0.1.0
 */
export const workerSource = join(
  dirname(createRequire(import.meta.url).resolve("@oidc-proxy/example-web-handler/package.json")),
  "src",
  "worker.ts",
)

/**
 * Bundles `input` (default: the web-handler example's module) to `file`. `fromSources` (default)
 * takes the workspace packages from their sources; `false` takes every package as published (its
 * `dist/`), e.g. as npm installed it next to `input`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bundleWorker = async (
  file: string,
  {
    input = workerSource,
    fromSources = true,
  }: { readonly input?: string; readonly fromSources?: boolean } = {},
): Promise<void> => {
  const conditions = ["workerd", "worker", "browser", "import", "default"]
  const result = await build({
    input,
    platform: "neutral",
    resolve: {
      conditionNames: fromSources ? ["@oidc-proxy/source", ...conditions] : conditions,
      mainFields: ["module", "main"],
    },
    output: { file, format: "esm", codeSplitting: false },
    logLevel: "warn",
  })
  const left = result.output.flatMap((chunk) =>
    chunk.type === "chunk" ? [...chunk.imports, ...chunk.dynamicImports] : [],
  )
  if (left.length > 0) throw new Error(`the worker bundle still imports: ${left.join(", ")}`)
}

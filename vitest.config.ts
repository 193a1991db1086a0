import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Tests run the workspace packages from their TypeScript sources: each package's `exports` carry
// an `@oidc-proxy/source` condition next to the built dist/ (which only `pnpm -r build` makes).
// Vite resolves with it in the test process; child processes (examples, bench) get it through
// NODE_OPTIONS, and the gateway launcher adds it itself when it runs from a clone.
const sourceCondition = "@oidc-proxy/source"
const inherited = process.env.NODE_OPTIONS ?? ""
const nodeOptions = inherited.includes(sourceCondition)
  ? inherited
  : `${inherited} --conditions=${sourceCondition}`.trim()

export default defineConfig({
  resolve: { conditions: [sourceCondition, ...defaultServerConditions] },
  ssr: { resolve: { conditions: [sourceCondition, ...defaultServerConditions] } },
  test: {
    include: ["packages/**/test/**/*.test.ts", "bench/test/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Property tests use a fixed seed in CI so a failure replays exactly; locally they explore.
    setupFiles: ["./vitest.setup.ts"],
    env: {
      NODE_OPTIONS: nodeOptions,
      ...(process.env.CI ? { FC_SEED: "20261126" } : {}),
    },
  },
})

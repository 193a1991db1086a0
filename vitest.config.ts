import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/**/test/**/*.test.ts", "bench/test/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Property tests use a fixed seed in CI so a failure replays exactly; locally they explore.
    setupFiles: ["./vitest.setup.ts"],
    env: process.env.CI ? { FC_SEED: "20261126" } : {},
  },
})

// `npm run fuzz -- --cases N --seed S`: the raw HTTP/1.1 battery (RawHttp.test.ts) at full size
// against the oidc-proxy binary. It prints cases/s, the 5xx answers, the requests that reached the
// target without a valid bearer, and the seed; the same --cases and --seed replay a failure.
import { spawnSync } from "node:child_process"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: { cases: { type: "string", default: "5000" }, seed: { type: "string" } },
})
const env = { ...process.env, RAW_FUZZ_CASES: values.cases, RAW_FUZZ_TIMEOUT: "3600000" }
if (values.seed !== undefined) env.FC_SEED = values.seed
const run = spawnSync("pnpm", ["vitest", "run", "packages/examples/security/test/RawHttp.test.ts"], {
  stdio: "inherit",
  env,
})
process.exit(run.status ?? 1)

// Property tests replay one fixed seed in CI (FC_SEED), so a red run is reproducible; locally
// every run explores new cases.
import * as fc from "fast-check"

const seed = process.env.FC_SEED
if (seed !== undefined && seed !== "") fc.configureGlobal({ seed: Number(seed) })

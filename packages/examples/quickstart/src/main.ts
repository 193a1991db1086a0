/**
 * `npm run demo`: the quickstart. Today it walks through the scope-resolution core; `--once` is
 * accepted for the full demo's interface and exits after the transcript.
 */
import { Effect } from "effect"
import { run } from "./Walkthrough.ts"

console.log("oidc-proxy — scope resolution walkthrough\n")
const decisions = await Effect.runPromise(run((line) => console.log(line)))
console.log(`\nDone (${decisions.join(", ")}).`)

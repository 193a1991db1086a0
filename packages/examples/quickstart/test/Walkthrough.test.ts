import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { run } from "../src/Walkthrough.ts"

describe("quickstart walkthrough", () => {
  it.live("allows the same-JWT session in id_token mode and explains FastMCP's loss", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const decisions = yield* run((l) => lines.push(l))
      assert.deepStrictEqual(decisions, ["id_token: Allow", "access_token: Deny"])
      const text = lines.join("\n")
      assert.include(text, "access_token === id_token: true")
      assert.include(text, "scopes = (none)")
      assert.include(text, "ALLOW  subject=ada@example.com scopes=offline_access openid")
    }),
  )
})

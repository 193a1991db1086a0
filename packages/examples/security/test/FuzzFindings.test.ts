/**
 * What `npm run fuzz` calls a finding (`scripts/fuzz/checks.ts`): a 5xx, a secret in the answer, a
 * request at the target without the valid bearer, a grant to a mutated credential, a valid raw
 * request not forwarded — and nothing for a clean refusal.
 */
import { describe, expect, it } from "vitest"
import { findings } from "../scripts/fuzz/checks.ts"
import type { FuzzCase } from "../scripts/fuzz/families.ts"

const fuzzCase = (over: Partial<FuzzCase> = {}): FuzzCase => ({
  family: "test",
  label: "test",
  authorized: false,
  forbidden: "none",
  ...over,
})
const answer = (status: number, body = "", location?: string) => ({
  statuses: [status],
  text: `HTTP/1.1 ${status}\r\n\r\n${body}`,
  location,
})
const seen = (url: string) => ({ method: "GET", url, headers: {} })
const kinds = (list: ReadonlyArray<{ kind: string }>) => list.map((f) => f.kind)

describe("fuzz findings", () => {
  it("a clean refusal is no finding", () => {
    expect(findings(fuzzCase(), answer(400, '{"error":"invalid_request"}'), [], ["s3cret-value"])).toEqual([])
  })

  it("5xx, an echoed secret, a request at the target without the valid bearer, a path off the target", () => {
    const list = findings(
      fuzzCase(),
      answer(502, "token s3cret-value"),
      [seen("/mcp/../token")],
      ["s3cret-value"],
    )
    expect(kinds(list)).toEqual(["5xx", "echo", "allow", "off-path"])
    // The finding names where the secret is, never the secret itself.
    expect(JSON.stringify(list)).not.toContain("s3cret-value")
  })

  it("grants to mutated credentials: tokens, an approved consent, a code from the callback", () => {
    expect(
      kinds(findings(fuzzCase({ forbidden: "tokens" }), answer(200, '{"access_token":"x"}'), [], [])),
    ).toEqual(["granted"])
    expect(kinds(findings(fuzzCase({ forbidden: "approval" }), answer(302), [], []))).toEqual(["granted"])
    expect(
      kinds(
        findings(fuzzCase({ forbidden: "code" }), answer(302, "", "http://127.0.0.1:9/cb?code=abc"), [], []),
      ),
    ).toEqual(["granted"])
    expect(
      findings(
        fuzzCase({ forbidden: "code" }),
        answer(302, "", "http://127.0.0.1:9/cb?error=access_denied"),
        [],
        [],
      ),
    ).toEqual([])
  })

  it("a valid raw request must reach the target once with a 200; reached and unanswered is told apart", () => {
    const raw = { bytes: () => "", forwards: true, authorized: true, label: "" }
    const valid = fuzzCase({ authorized: true, raw })
    expect(findings(valid, answer(200), [seen("/mcp")], [])).toEqual([])
    expect(kinds(findings(valid, answer(401), [], []))).toEqual(["not-forwarded"])
    expect(
      kinds(findings(valid, { statuses: [], text: "", location: undefined }, [seen("/mcp")], [])),
    ).toEqual(["no-answer"])
  })
})

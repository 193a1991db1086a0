/**
 * What the large fuzz reports about one answer: a 5xx, a secret echoed, a request that reached the
 * target without session A's bearer (or off the target path, or smuggled), a valid request that
 * was not forwarded (or forwarded and never answered), or a grant answered to a mutated credential.
 *
 * Script support (`npm run fuzz`); pure over what was sent, answered and seen by the target.
 */

import type { Seen } from "../../test/faults/flows.ts"
import { onTargetPath } from "../../test/raw.ts"
import type { Forbidden, FuzzCase } from "./families.ts"

export type FindingKind =
  | "5xx"
  | "echo"
  | "allow"
  | "off-path"
  | "smuggled"
  | "not-forwarded"
  | "no-answer"
  | "granted"

export interface Finding {
  readonly kind: FindingKind
  readonly detail: string
}

/** One exchange: every status on the connection, the whole text (head and body), `Location`. */
export interface Answer {
  readonly statuses: ReadonlyArray<number>
  readonly text: string
  readonly location: string | undefined
}

const granted = (forbidden: Forbidden, answer: Answer): boolean => {
  const status = answer.statuses[0] ?? 0
  switch (forbidden) {
    case "tokens":
      return status === 200 && answer.text.includes("access_token")
    case "approval":
      // An approved consent redirects to the IdP; a refusal stays on an error page.
      return status === 302
    case "code":
      return (status === 302 || status === 303) && /[?&]code=/.test(answer.location ?? "")
    case "none":
      return false
  }
}

/** Every finding for `c`, given its answer and the requests the target saw for it. */
export const findings = (
  c: FuzzCase,
  answer: Answer,
  seen: ReadonlyArray<Seen>,
  secrets: ReadonlyArray<string>,
): Array<Finding> => {
  const out: Array<Finding> = []
  const server = answer.statuses.filter((s) => s >= 500)
  if (server.length > 0) out.push({ kind: "5xx", detail: `answered ${server.join(", ")}` })
  const echoed = secrets.filter((s) => answer.text.includes(s))
  if (echoed.length > 0)
    out.push({
      kind: "echo",
      detail: `echoed ${echoed.length} secret(s), first at ${answer.text.indexOf(echoed[0]!)}`,
    })
  if (seen.length > 0 && !c.authorized)
    out.push({ kind: "allow", detail: `reached the target ${seen.length}× without a valid bearer` })
  for (const s of seen)
    if (!onTargetPath(s.url)) out.push({ kind: "off-path", detail: `target saw ${JSON.stringify(s.url)}` })
  if (c.raw?.forwards === true && seen.length === 1 && answer.statuses.length === 0)
    out.push({ kind: "no-answer", detail: "forwarded, but no answer before the socket was given up" })
  else if (c.raw?.forwards === true && (seen.length !== 1 || answer.statuses[0] !== 200))
    out.push({
      kind: "not-forwarded",
      detail: `${seen.length} at the target, answered ${answer.statuses.join(",")}`,
    })
  if (granted(c.forbidden, answer)) out.push({ kind: "granted", detail: `answered ${answer.statuses[0]}` })
  return out
}

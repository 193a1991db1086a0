/**
 * Summarises a `.cpuprofile`: self time by function and by package, top entries.
 *
 * Usage: node bench/src/profile-summary.ts <file.cpuprofile> [top]
 */
import { readFileSync } from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
const profile = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as {
  nodes: ReadonlyArray<Node>
  samples: ReadonlyArray<number>
  timeDeltas: ReadonlyArray<number>
}
const top = Number(process.argv[3] ?? 25)
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const pkg = (url: string) => {
  const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m) return m[1]!
  if (url.includes("/packages/")) return url.replace(/.*\/packages\//, "").split("/src/")[0]!
  if (url.startsWith("node:")) return url
  return url === "" ? "(native/gc)" : url.replace(/.*\//, "")
}
const fn = new Map<string, number>()
const pk = new Map<string, number>()
for (const [id, t] of self) {
  const n = byId.get(id)!
  const key = `${n.callFrame.functionName || "(anonymous)"} ${pkg(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
  fn.set(key, (fn.get(key) ?? 0) + t)
  pk.set(pkg(n.callFrame.url), (pk.get(pkg(n.callFrame.url)) ?? 0) + t)
}
const show = (m: Map<string, number>) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .forEach(([k, t]) => console.log(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}`))
console.log(`total ${(total / 1000).toFixed(0)} ms sampled\n-- by package --`)
show(pk)
console.log("-- by function (self) --")
show(fn)

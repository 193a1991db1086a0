/**
 * The round-11 control table (`bench/src/TypedTokenTable.ts`) keeps the verified-token cache's
 * contract: same answers as a plain model, bounded probes, and never a hit on a key that is not
 * byte-for-byte the remembered one, whatever the hashes.
 */
import type { AccessToken } from "@oidc-proxy/core"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as TypedTokenTable from "../src/TypedTokenTable.ts"

const token = (subject: string): AccessToken.AccessToken => ({
  token: subject,
  client_id: "c1",
  subject,
  scopes: ["openid"],
  expires_at: 2_000_000_000,
  claims: { iss: "https://idp.test" },
})

const op = fc.oneof(
  fc.record({
    op: fc.constant("remember" as const),
    t: fc.nat(7),
    j: fc.nat(3),
    u: fc.nat(2),
    life: fc.nat(50),
  }),
  fc.record({ op: fc.constant("jti" as const), j: fc.nat(3) }),
  fc.record({ op: fc.constant("upstream" as const), u: fc.nat(2) }),
  fc.record({ op: fc.constant("tick" as const), by: fc.nat(20) }),
)

/** Replays `ops` on `cache` and on a Map model; every step answers alike for every token. */
const agreesWithModel = (
  ops: ReadonlyArray<typeof op extends fc.Arbitrary<infer A> ? A : never>,
  maxEntries: number,
  hash?: (t: string) => number,
) => {
  const cache = TypedTokenTable.make({
    ttlMillis: 40,
    maxEntries,
    maxKeyBytes: 64,
    maxProbe: 64,
    ...(hash ? { hash } : {}),
  })
  const model = new Map<
    string,
    { jti: string; upstreamId: string; until: number; at: AccessToken.AccessToken }
  >()
  let now = 0
  const name = (i: number) => `bearer-${i}-${"x".repeat(i)}`
  for (const o of ops) {
    if (o.op === "remember") {
      const t = name(o.t)
      const links = { jti: `j${o.j}`, upstreamId: `u${o.u}` }
      const at = token(t)
      cache.remember(t, at, links, now + o.life, now, cache.epoch())
      const until = Math.min(now + o.life, now + 40)
      if (until > now) {
        model.delete(t)
        while (model.size >= maxEntries) model.delete(model.keys().next().value!)
        model.set(t, { ...links, until, at })
      }
    } else if (o.op === "jti") {
      cache.evictJti(`j${o.j}`)
      for (const [t, l] of [...model]) if (l.jti === `j${o.j}`) model.delete(t)
    } else if (o.op === "upstream") {
      cache.evictUpstream(`u${o.u}`)
      for (const [t, l] of [...model]) if (l.upstreamId === `u${o.u}`) model.delete(t)
    } else now += o.by
    for (let i = 0; i < 8; i++) {
      const m = model.get(name(i))
      const expected = m !== undefined && m.until > now ? m.at : undefined
      if (m !== undefined && expected === undefined) model.delete(name(i))
      expect(cache.lookup(name(i), now)).toBe(expected)
    }
    expect(cache.size()).toBe(model.size)
  }
}

describe("TypedTokenTable (bench control)", () => {
  it("agrees with a Map model on remember / lookup / evict / expiry sequences", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 9 }), (ops, max) =>
        agreesWithModel(ops, max),
      ),
      { numRuns: 300 },
    )
  })

  it("agrees with the model when every key has the same hash (collisions resolved by the full key)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), fc.integer({ min: 1, max: 9 }), (ops, max) =>
        agreesWithModel(ops, max, () => 7),
      ),
      { numRuns: 300 },
    )
  })

  it("a key with the remembered key's hash and length but one other byte never hits", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, "a")),
        fc.nat(),
        fc.integer({ min: 0x21, max: 0xff }),
        (key, at, code) => {
          const cache = TypedTokenTable.make({ ttlMillis: 1000, maxEntries: 4, hash: () => 1 })
          cache.remember(key, token(key), { jti: "j", upstreamId: "u" }, 9e9, 0, cache.epoch())
          const i = at % key.length
          const other = `${key.slice(0, i)}${String.fromCharCode(code === key.charCodeAt(i) ? code - 1 : code)}${key.slice(i + 1)}`
          expect(cache.lookup(key, 1)?.subject).toBe(key)
          expect(cache.lookup(other, 1)).toBeUndefined()
          // A character past U+00FF whose low byte is the remembered one (a latin1 write truncates it).
          const wide = `${key.slice(0, i)}${String.fromCharCode(0x100 | key.charCodeAt(i))}${key.slice(i + 1)}`
          expect(cache.lookup(wide, 1)).toBeUndefined()
          expect(cache.lookup(key.slice(0, -1), 1)).toBeUndefined()
        },
      ),
      { numRuns: 300 },
    )
  })

  it("probes are bounded: with one hash for every key, no lookup or insert visits more than maxProbe slots", () => {
    const cache = TypedTokenTable.make({ ttlMillis: 1000, maxEntries: 1000, maxProbe: 8, hash: () => 42 })
    for (let i = 0; i < 200; i++) {
      cache.remember(`t${i}`, token(`t${i}`), { jti: `j${i}`, upstreamId: "u" }, 9e9, 0, cache.epoch())
      expect(cache.lastProbe()).toBeLessThanOrEqual(8)
      cache.lookup(`absent${i}`, 1)
      expect(cache.lastProbe()).toBeLessThanOrEqual(8)
    }
    // A full window evicts its oldest: the newest 8 are found, the rest answer as misses.
    expect(cache.size()).toBe(8)
    for (let i = 192; i < 200; i++) expect(cache.lookup(`t${i}`, 1)?.subject).toBe(`t${i}`)
    expect(cache.lookup("t0", 1)).toBeUndefined()
  })

  it("the default hash covers the whole key: 20k keys sharing a long suffix are all kept", () => {
    // Round 11's first fill hashed the last 32 characters: bearers differing only before them
    // shared one probe window and evicted each other.
    const cache = TypedTokenTable.make({ ttlMillis: 1000, maxEntries: 20_000 })
    const suffix = "s".repeat(100)
    for (let i = 0; i < 20_000; i++)
      cache.remember(
        `${i}.${suffix}`,
        token(`t${i}`),
        { jti: `j${i}`, upstreamId: "u" },
        9e9,
        0,
        cache.epoch(),
      )
    expect(cache.size()).toBe(20_000)
    expect(cache.lookup(`7.${suffix}`, 1)?.subject).toBe("t7")
  })

  it("does not remember keys it cannot hold byte for byte (too long, or a character past U+00FF)", () => {
    const cache = TypedTokenTable.make({ ttlMillis: 1000, maxEntries: 4, maxKeyBytes: 32 })
    cache.remember("x".repeat(100), token("long"), { jti: "j", upstreamId: "u" }, 9e9, 0, cache.epoch())
    cache.remember("ĀĀ", token("wide"), { jti: "j", upstreamId: "u" }, 9e9, 0, cache.epoch())
    expect(cache.size()).toBe(0)
    expect(cache.lookup("\u0000\u0000", 1)).toBeUndefined()
  })
})

/**
 * The client address behind trusted proxies: the list's parsing (addresses and CIDR blocks, IPv4
 * and IPv6, bad entries named), and the right-to-left walk of `X-Forwarded-For` — a peer that is
 * not trusted is the source whatever it sends, a chain of trusted hops yields the address before
 * them, and malformed or all-trusted chains fall back to the peer.
 */
import { isIP } from "node:net"
import { Result } from "effect"
import * as fc from "fast-check"
import { assert, describe, it } from "vitest"
import * as TrustedProxies from "../src/TrustedProxies.ts"

const parse = (list: string) => {
  const result = TrustedProxies.parse(list)
  if (Result.isFailure(result)) throw new Error(result.failure)
  return result.success
}
const reason = (list: string) => {
  const result = TrustedProxies.parse(list)
  return Result.isFailure(result) ? result.failure : undefined
}

const proxies = parse("10.0.0.0/8, 192.0.2.7, 2001:db8:1::/48")
/** Addresses outside every block above (TEST-NET-2/3 and a different IPv6 /32). */
const untrusted = fc.oneof(
  fc.tuple(fc.constantFrom(198, 203), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `${a}.51.${b}.${c}`),
  fc.tuple(fc.nat(0xffff), fc.nat(0xffff)).map(([a, b]) => `2001:db9:${a.toString(16)}::${b.toString(16)}`),
)
const trustedHop = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `10.${a}.${b}.${c}`),
  fc.constant("192.0.2.7"),
  fc.constant("::ffff:192.0.2.7"),
  fc.nat(0xffff).map((a) => `2001:db8:1:${a.toString(16)}::1`),
)
/** Whatever a caller may put left of the addresses the proxies appended. */
const callerText = fc.array(fc.oneof(untrusted, trustedHop, fc.string({ maxLength: 12 })), { maxLength: 4 })

describe("TrustedProxies", () => {
  it("parseAddress - agrees with node:net on generated and arbitrary text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), fc.string({ maxLength: 46 })), (text) => {
        const parsed = TrustedProxies.parseAddress(text)
        // node:net accepts what we refuse on purpose: leading zeros in IPv4 parts are ambiguous.
        if (parsed !== undefined) assert.notStrictEqual(isIP(text), 0, text)
        else if (isIP(text) !== 0) assert.match(text, /(^|[.:])0\d/, text)
      }),
      { numRuns: 2000 },
    )
  })

  it("parseAddress - IPv4-mapped IPv6 is the IPv4 address; IPv6 forms agree", () => {
    assert.deepStrictEqual(TrustedProxies.parseAddress("::ffff:192.0.2.7"), {
      family: 4,
      value: 0xc0000207n,
    })
    assert.deepStrictEqual(
      TrustedProxies.parseAddress("2001:db8::1"),
      TrustedProxies.parseAddress("2001:0db8:0:0:0:0:0:0001"),
    )
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1::2::3", "fe80::1%eth0", "::g"])
      assert.isUndefined(TrustedProxies.parseAddress(bad), bad)
  })

  it("parse - names the bad entry; typos that would trust more than meant are refused", () => {
    assert.match(reason("10.0.0.0/8, 10.0.0/8") ?? "", /"10\.0\.0\/8" is not an IP address or CIDR block/)
    assert.match(reason("10.0.0.1/8") ?? "", /"10\.0\.0\.1\/8" has address bits set past its prefix/)
    assert.match(reason("10.0.0.0/33") ?? "", /prefix length outside 0-32/)
    assert.match(reason("2001:db8::/129") ?? "", /prefix length outside 0-128/)
    assert.match(reason("::ffff:0.0.0.0/80") ?? "", /shorter than 96/)
    assert.match(reason("localhost") ?? "", /"localhost" is not an IP address/)
    assert.deepStrictEqual(parse(" , "), TrustedProxies.none)
    assert.strictEqual(parse("::ffff:10.0.0.0/104, 127.0.0.1").cidrs.length, 2)
  })

  it("parse - a block of every address is refused: each client's own address would be skipped", () => {
    // With 0.0.0.0/0 the address the proxy appends is "trusted" too, so the walk goes on into
    // what the caller wrote: every IPv4 caller chooses its source (e.g. a fresh IPv6 per request).
    for (const all of ["0.0.0.0/0", "::/0", "::ffff:0.0.0.0/96", "10.0.0.0/8, 0.0.0.0/0"])
      assert.match(reason(all) ?? "", /trusts every (IPv4|IPv6) address/, all)
    assert.strictEqual(parse("0.0.0.0/1, 128.0.0.0/1").cidrs.length, 2)
  })

  it("parse - a block contains exactly the addresses sharing its prefix", () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 1, max: 32 }), (base, probe, prefix) => {
        const b = TrustedProxies.parseAddress(base)!.value
        const p = TrustedProxies.parseAddress(probe)!
        const shift = BigInt(32 - prefix)
        const network = (b >> shift) << shift
        const text = [24n, 16n, 8n, 0n].map((s) => (network >> s) & 255n).join(".")
        const block = parse(`${text}/${prefix}`)
        assert.strictEqual(TrustedProxies.contains(block, p), p.value >> shift === b >> shift)
      }),
    )
  })

  it("clientAddress - a peer that is not trusted is the source, whatever it sends", () => {
    fc.assert(
      fc.property(untrusted, fc.option(fc.string({ maxLength: 80 }), { nil: undefined }), (peer, header) => {
        assert.strictEqual(TrustedProxies.clientAddress(proxies, peer, header), peer)
      }),
    )
    assert.strictEqual(TrustedProxies.clientAddress(proxies, "198.51.100.9", "203.0.113.1"), "198.51.100.9")
  })

  it("clientAddress - behind trusted hops, the right-most untrusted address; the caller's part is ignored", () => {
    fc.assert(
      fc.property(
        trustedHop,
        callerText,
        untrusted,
        fc.array(trustedHop, { maxLength: 4 }),
        (peer, forged, client, hops) => {
          const header = [...forged, client, ...hops].join(", ")
          assert.strictEqual(
            TrustedProxies.clientAddress(proxies, peer, header),
            TrustedProxies.format(TrustedProxies.parseAddress(client)!),
          )
        },
      ),
    )
  })

  it("clientAddress - ports and brackets are taken off; the peer's own zone is ignored", () => {
    assert.strictEqual(TrustedProxies.clientAddress(proxies, "10.1.1.1", "198.51.100.4:4711"), "198.51.100.4")
    assert.strictEqual(
      TrustedProxies.clientAddress(proxies, "::ffff:10.1.1.1", "[2001:db9::5]:443, 10.2.2.2"),
      "2001:db9::5",
    )
  })

  it("clientAddress - the address in one canonical text, however the proxy wrote it", () => {
    // Quotas key on this text: every spelling of one address must give one key, and distinct
    // addresses distinct keys (IPv4-mapped in hex once put every IPv4 client in one IPv6 /64).
    const cases: ReadonlyArray<readonly [string, string]> = [
      ["::ffff:c633:6401", "198.51.100.1"],
      ["0:0:0:0:0:FFFF:198.51.100.1", "198.51.100.1"],
      ["[::ffff:198.51.100.1]:443", "198.51.100.1"],
      ["2001:DB9:0:0:0:0:0:1", "2001:db9::1"],
      ["2001:db9:0000::0:1", "2001:db9::1"],
      ["2001::2:3:4:5:1.2.3.4", "2001:0:2:3:4:5:102:304"],
      ["2001:db9:0:0:1:0:0:1", "2001:db9::1:0:0:1"],
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
      ["2001:db9:1:0:1:1:1:1", "2001:db9:1:0:1:1:1:1"],
      ["::", "::"],
      ["::1.2.3.4", "::102:304"],
    ]
    for (const [written, canonical] of cases)
      assert.strictEqual(TrustedProxies.clientAddress(proxies, "10.0.0.1", written), canonical, written)
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const address = TrustedProxies.parseAddress(text)
        fc.pre(address !== undefined && !TrustedProxies.contains(proxies, address))
        const out = TrustedProxies.clientAddress(proxies, "10.0.0.1", text)!
        assert.deepStrictEqual(TrustedProxies.parseAddress(out), address, text)
        // Idempotent: the canonical text is its own canonical text.
        assert.strictEqual(TrustedProxies.clientAddress(proxies, "10.0.0.1", out), out, text)
      }),
      { numRuns: 2000 },
    )
  })

  it("clientAddress - reads only the header's right end, as splitting the whole header would", () => {
    // The walk as first written: split every element, then read the last 64.
    const reference = (peer: string, header: string) => {
      const elements = header.split(",")
      for (let i = elements.length - 1; i >= Math.max(0, elements.length - 64); i--) {
        const text = elements[i]!.trim().replace(/^\[([^\]]*)\](?::\d{1,5})?$|^([\d.]+):\d{1,5}$/, "$1$2")
        const address = TrustedProxies.parseAddress(text)
        if (address === undefined) return peer
        if (!TrustedProxies.contains(proxies, address)) return TrustedProxies.format(address)
      }
      return peer
    }
    const element = fc.oneof(
      untrusted,
      trustedHop,
      fc.string({ maxLength: 12 }),
      fc.constantFrom("", " ", "[::1]:80"),
    )
    fc.assert(
      fc.property(
        trustedHop,
        fc.array(element, { maxLength: 70 }),
        fc.constantFrom(",", ", ", " ,"),
        (peer, list, sep) => {
          const header = list.join(sep)
          assert.strictEqual(
            TrustedProxies.clientAddress(proxies, peer, header),
            reference(peer, header),
            header,
          )
        },
      ),
      { numRuns: 2000 },
    )
    // 65 trusted hops: the 65th element from the right is never read.
    const hops = Array<string>(64).fill("10.0.0.1").join(",")
    assert.strictEqual(TrustedProxies.clientAddress(proxies, "10.0.0.1", `198.51.100.1,${hops}`), "10.0.0.1")
    assert.strictEqual(
      TrustedProxies.clientAddress(proxies, "10.0.0.1", `198.51.100.1,${hops.slice(9)}`),
      "198.51.100.1",
    )
    // An element longer than any address with a port is malformed, however it ends.
    assert.strictEqual(
      TrustedProxies.clientAddress(proxies, "10.0.0.1", `1.2.3.4,${" ".repeat(100)}198.51.100.1`),
      "10.0.0.1",
    )
  })

  it("clientAddress - a malformed element on the walk, or only trusted hops, gives the peer", () => {
    fc.assert(
      fc.property(
        trustedHop,
        callerText,
        fc.constantFrom("unknown", "", "_hidden", "1.2.3", "198.51.100.1 extra", "[::1"),
        fc.array(trustedHop, { maxLength: 3 }),
        (peer, forged, junk, hops) => {
          const header = [...forged, junk, ...hops].join(",")
          assert.strictEqual(TrustedProxies.clientAddress(proxies, peer, header), peer)
        },
      ),
    )
    assert.strictEqual(TrustedProxies.clientAddress(proxies, "10.0.0.1", "10.0.0.2, 192.0.2.7"), "10.0.0.1")
    assert.strictEqual(TrustedProxies.clientAddress(proxies, "10.0.0.1", undefined), "10.0.0.1")
    assert.strictEqual(
      TrustedProxies.clientAddress(TrustedProxies.none, "10.0.0.1", "198.51.100.1"),
      "10.0.0.1",
    )
  })
})

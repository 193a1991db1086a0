import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as AddressPolicy from "../src/AddressPolicy.ts"

describe("AddressPolicy", () => {
  it("classify - the special-purpose ranges, IPv4 and IPv6", () => {
    const table: ReadonlyArray<[string, AddressPolicy.AddressKind]> = [
      ["8.8.8.8", "public"],
      ["172.32.0.1", "public"],
      ["100.128.0.1", "public"],
      ["2606:4700::1111", "public"],
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["::1", "loopback"],
      ["[::1]", "loopback"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["fc00::1", "private"],
      ["fd12:3456::1", "private"],
      ["169.254.1.1", "link_local"],
      ["fe80::1", "link_local"],
      ["fe80::1%eth0", "link_local"],
      ["100.64.0.1", "cgnat"],
      ["100.127.255.255", "cgnat"],
      ["169.254.169.254", "metadata"],
      ["fd00:ec2::254", "metadata"],
      ["0.0.0.0", "unspecified"],
      ["::", "unspecified"],
      ["224.0.0.1", "multicast"],
      ["ff02::1", "multicast"],
      ["192.0.2.1", "reserved"],
      ["198.18.0.1", "reserved"],
      ["240.0.0.1", "reserved"],
      ["2001:db8::1", "reserved"],
      ["2001::1", "reserved"],
      ["localhost", "invalid"],
      ["1.2.3", "invalid"],
      ["01.2.3.4", "invalid"],
      ["256.1.1.1", "invalid"],
      ["1::2::3", "invalid"],
      ["", "invalid"],
    ]
    for (const [ip, kind] of table) assert.strictEqual(AddressPolicy.classify(ip), kind, ip)
  })

  it("classify - IPv4 hidden in IPv6 (mapped, compatible, NAT64, 6to4) is judged as that IPv4 address", () => {
    assert.strictEqual(AddressPolicy.classify("::ffff:127.0.0.1"), "loopback")
    assert.strictEqual(AddressPolicy.classify("::ffff:7f00:1"), "loopback")
    assert.strictEqual(AddressPolicy.classify("::ffff:169.254.169.254"), "metadata")
    assert.strictEqual(AddressPolicy.classify("::10.0.0.1"), "private")
    assert.strictEqual(AddressPolicy.classify("64:ff9b::10.0.0.1"), "private")
    assert.strictEqual(AddressPolicy.classify("2002:a00:1::"), "private")
    assert.strictEqual(AddressPolicy.classify("::ffff:8.8.8.8"), "public")
  })

  it("isAllowed - only public addresses; loopback only under the development option", () => {
    assert.isTrue(AddressPolicy.isAllowed("8.8.8.8"))
    assert.isFalse(AddressPolicy.isAllowed("127.0.0.1"))
    assert.isTrue(AddressPolicy.isAllowed("127.0.0.1", { allowLoopback: true }))
    assert.isTrue(AddressPolicy.isAllowed("::1", { allowLoopback: true }))
    for (const ip of ["10.0.0.1", "169.254.169.254", "100.64.0.1", "fe80::1", "0.0.0.0"])
      assert.isFalse(AddressPolicy.isAllowed(ip, { allowLoopback: true }), ip)
  })

  it("isAllowed - every address in 10/8, 127/8, 169.254/16 and 192.168/16 is refused, in every spelling", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(10, 127, 169, 192),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        (a, b0, c, d) => {
          const b = a === 169 ? 254 : a === 192 ? 168 : b0
          const v4 = `${a}.${b}.${c}.${d}`
          const hex = (x: number, y: number) => ((x << 8) | y).toString(16)
          for (const ip of [v4, `::ffff:${v4}`, `::ffff:${hex(a, b)}:${hex(c, d)}`, `64:ff9b::${v4}`])
            if (AddressPolicy.isAllowed(ip)) return false
          return true
        },
      ),
    )
  })
})

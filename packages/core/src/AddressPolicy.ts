/**
 * Which IP addresses an outbound fetch on behalf of a client (a Client ID Metadata Document, its
 * `jwks_uri`) may connect to: public unicast only. Private, loopback, link-local, CGNAT, cloud
 * metadata, multicast and reserved ranges are refused, for IPv4, IPv6, and IPv4 embedded in IPv6
 * (mapped, compatible, NAT64, 6to4).
 *
 * Pure core: a function over an IP string; resolving names is the adapter's job, which must
 * connect to the address it checked.
 *
 * @see [RFC 6890](https://www.rfc-editor.org/rfc/rfc6890) (special-purpose address registries)
 * @see [draft-ietf-oauth-client-id-metadata-document §6](https://datatracker.ietf.org/doc/draft-ietf-oauth-client-id-metadata-document/)
 * @since 0.1.0
 */

/**
 * The kind of an address.
 *
 * @category models
 * @since 0.1.0
 */
export type AddressKind =
  | "public"
  | "loopback"
  | "private"
  | "link_local"
  | "cgnat"
  | "metadata"
  | "unspecified"
  | "multicast"
  | "reserved"
  | "invalid"

const parseV4 = (ip: string): number | undefined => {
  const parts = ip.split(".")
  if (parts.length !== 4) return undefined
  let n = 0
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined
    const v = Number(p)
    if (v > 255) return undefined
    n = n * 256 + v
  }
  return n
}

const inV4 = (n: number, base: string, bits: number): boolean => {
  const b = parseV4(base)!
  const size = 2 ** (32 - bits)
  return Math.floor(n / size) === Math.floor(b / size)
}

const classifyV4 = (n: number): AddressKind => {
  if (inV4(n, "169.254.169.254", 32)) return "metadata"
  if (inV4(n, "0.0.0.0", 8)) return "unspecified"
  if (inV4(n, "127.0.0.0", 8)) return "loopback"
  if (inV4(n, "10.0.0.0", 8) || inV4(n, "172.16.0.0", 12) || inV4(n, "192.168.0.0", 16)) return "private"
  if (inV4(n, "169.254.0.0", 16)) return "link_local"
  if (inV4(n, "100.64.0.0", 10)) return "cgnat"
  if (inV4(n, "224.0.0.0", 4)) return "multicast"
  if (
    inV4(n, "192.0.0.0", 24) ||
    inV4(n, "192.0.2.0", 24) ||
    inV4(n, "198.18.0.0", 15) ||
    inV4(n, "198.51.100.0", 24) ||
    inV4(n, "203.0.113.0", 24) ||
    inV4(n, "240.0.0.0", 4)
  )
    return "reserved"
  return "public"
}

/** Eight 16-bit groups of an IPv6 address, or undefined. */
const parseV6 = (input: string): ReadonlyArray<number> | undefined => {
  let ip = input
  const zone = ip.indexOf("%")
  if (zone >= 0) ip = ip.slice(0, zone)
  if (!/^[0-9a-fA-F:.]+$/.test(ip)) return undefined
  const lastColon = ip.lastIndexOf(":")
  const last = ip.slice(lastColon + 1)
  if (last.includes(".")) {
    // An embedded IPv4 tail becomes two hex groups.
    const v4 = parseV4(last)
    if (v4 === undefined || lastColon < 0) return undefined
    ip = `${ip.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`
  }
  const halves = ip.split("::")
  if (halves.length > 2) return undefined
  const group = (s: string) => (s === "" ? [] : s.split(":"))
  const head = group(halves[0]!)
  const rest = halves.length === 2 ? group(halves[1]!) : []
  if (![...head, ...rest].every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return undefined
  const hex = (gs: ReadonlyArray<string>) => gs.map((g) => Number.parseInt(g, 16))
  if (halves.length === 1) return head.length === 8 ? hex(head) : undefined
  const fill = 8 - head.length - rest.length
  if (fill < 1) return undefined
  return [...hex(head), ...new Array<number>(fill).fill(0), ...hex(rest)]
}

const v4Of = (hi: number, lo: number) => hi * 65536 + lo

const classifyV6 = (g: ReadonlyArray<number>): AddressKind => {
  const [a, b, c, d, e, f, h, l] = g as [number, number, number, number, number, number, number, number]
  const zeroPrefix = a === 0 && b === 0 && c === 0 && d === 0 && e === 0
  if (zeroPrefix && f === 0 && h === 0 && l === 0) return "unspecified"
  if (zeroPrefix && f === 0 && h === 0 && l === 1) return "loopback"
  // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d: judged as the IPv4 address.
  if (zeroPrefix && (f === 0xffff || f === 0)) return classifyV4(v4Of(h, l))
  // NAT64 64:ff9b::/96 and 64:ff9b:1::/48: the embedded IPv4 address.
  if (a === 0x64 && b === 0xff9b && ((c === 0 && d === 0 && e === 0 && f === 0) || c === 1))
    return classifyV4(v4Of(h, l))
  // 6to4 2002:V4::/16: the embedded IPv4 address.
  if (a === 0x2002) return classifyV4(v4Of(b, c))
  // Teredo 2001::/32 hides an address; refuse it.
  if (a === 0x2001 && b === 0) return "reserved"
  if (a === 0x2001 && b === 0xdb8) return "reserved"
  if (a === 0xfd00 && b === 0xec2 && c === 0 && d === 0 && e === 0 && f === 0 && h === 0 && l === 0x254)
    return "metadata"
  if ((a & 0xfe00) === 0xfc00) return "private"
  if ((a & 0xffc0) === 0xfe80) return "link_local"
  if ((a & 0xffc0) === 0xfec0) return "private"
  if ((a & 0xff00) === 0xff00) return "multicast"
  if ((a & 0xe000) !== 0x2000) return "reserved"
  return "public"
}

/**
 * Classifies an IP address (IPv4 dotted quad or IPv6, optionally in brackets). Anything that is
 * not an IP literal is `invalid`.
 *
 * @category utils
 * @since 0.1.0
 */
export const classify = (ip: string): AddressKind => {
  const bare = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip
  const v4 = parseV4(bare)
  if (v4 !== undefined) return classifyV4(v4)
  const v6 = bare.includes(":") ? parseV6(bare) : undefined
  return v6 === undefined ? "invalid" : classifyV6(v6)
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Policy {
  /** Allow loopback addresses (development only: a document server on 127.0.0.1). Default false. */
  readonly allowLoopback?: boolean
}

/**
 * `true` when a fetch may connect to `ip`: a public unicast address, or loopback when the
 * development option allows it.
 *
 * @category utils
 * @since 0.1.0
 */
export const isAllowed = (ip: string, policy: Policy = {}): boolean => {
  const kind = classify(ip)
  return kind === "public" || (kind === "loopback" && policy.allowLoopback === true)
}

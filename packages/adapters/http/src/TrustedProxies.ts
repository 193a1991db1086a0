/**
 * The client address behind trusted reverse proxies: which peers may say, in `X-Forwarded-For`,
 * whom they forward for, and the address per-source quotas then count.
 *
 * Adapter (pure functions over header text; no runtime). The list is IPv4 and IPv6 addresses and
 * CIDR blocks. Only a trusted peer's header is read, and only from its right end: each trusted
 * proxy appends the address it received the request from, so the right-most address that is not
 * itself a trusted proxy is the first one no trusted party vouches for — everything left of it
 * was written by the caller and may be forged. `Forwarded` (RFC 7239) is not read: a proxy that
 * appends `X-Forwarded-For` usually passes a caller's `Forwarded` through unchanged, so reading
 * it would let the caller choose its own address.
 *
 * @see [RFC 7239 §5.2](https://www.rfc-editor.org/rfc/rfc7239#section-5.2) (what the header says)
 * @since 0.1.0
 */
import { Result } from "effect"

/**
 * An IP address as a number: 32 bits for IPv4 (IPv4-mapped IPv6 included), 128 for IPv6.
 *
 * @category models
 * @since 0.1.0
 */
export interface Address {
  readonly family: 4 | 6
  readonly value: bigint
}

/**
 * A CIDR block; a single address is a block of its full length.
 *
 * @category models
 * @since 0.1.0
 */
export interface Cidr {
  readonly family: 4 | 6
  readonly network: bigint
  readonly prefix: number
}

/**
 * The configured proxies; an empty list trusts no peer (the socket peer is the source).
 *
 * @category models
 * @since 0.1.0
 */
export interface TrustedProxies {
  readonly cidrs: ReadonlyArray<Cidr>
}

/**
 * Trusts no peer.
 *
 * @category constructors
 * @since 0.1.0
 */
export const none: TrustedProxies = { cidrs: [] }

const bitsOf = (family: 4 | 6) => (family === 4 ? 32 : 128)

const ipv4Value = (text: string): bigint | undefined => {
  const parts = text.split(".")
  if (parts.length !== 4) return undefined
  let value = 0n
  for (const part of parts) {
    // Decimal only, no leading zero: `010` is octal to some parsers and decimal to others.
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined
    value = (value << 8n) | BigInt(part)
  }
  return value
}

const groupsOf = (side: string): Array<string> | undefined => {
  if (side === "") return []
  const groups = side.split(":")
  return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? groups : undefined
}

const ipv6Value = (text: string): bigint | undefined => {
  let head = text
  let tail: bigint | undefined
  // A trailing dotted quad stands for the last two groups (`::ffff:192.0.2.1`).
  if (text.includes(".")) {
    const cut = text.lastIndexOf(":")
    tail = ipv4Value(text.slice(cut + 1))
    if (tail === undefined) return undefined
    head = text.slice(0, cut + 1)
    if (!head.endsWith("::")) head = head.slice(0, -1)
  }
  const wanted = tail === undefined ? 8 : 6
  const halves = head.split("::")
  if (halves.length > 2) return undefined
  const front = groupsOf(halves[0]!)
  const back = halves.length === 2 ? groupsOf(halves[1]!) : []
  if (front === undefined || back === undefined) return undefined
  const missing = wanted - front.length - back.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  let value = 0n
  for (const g of [...front, ...Array<string>(missing).fill("0"), ...back])
    value = (value << 16n) | BigInt(`0x${g}`)
  return tail === undefined ? value : (value << 32n) | tail
}

/**
 * Parses an IP address literal, strictly: dotted-decimal IPv4 (no leading zeros) or IPv6 text
 * (RFC 4291 §2.2, a zone id refused). An IPv4-mapped IPv6 address is its IPv4 address, as a dual-stack
 * socket reports IPv4 peers that way. `undefined` when it is not one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const parseAddress = (text: string): Address | undefined => {
  if (text.length > 45) return undefined
  if (!text.includes(":")) {
    const value = ipv4Value(text)
    return value === undefined ? undefined : { family: 4, value }
  }
  const value = ipv6Value(text)
  if (value === undefined) return undefined
  return value >> 32n === 0xffffn ? { family: 4, value: value & 0xffffffffn } : { family: 6, value }
}

/**
 * An address's one canonical text: dotted decimal for IPv4 (IPv4-mapped included), RFC 5952 for
 * IPv6 (lower-case hex, no leading zeros, the longest run of two or more zero groups — the first of
 * equals — as `::`). Quotas key on text, so each address must have one.
 *
 * @see [RFC 5952 §4](https://www.rfc-editor.org/rfc/rfc5952#section-4)
 * @category utils
 * @since 0.1.0
 */
export const format = (address: Address): string => {
  if (address.family === 4) return [24n, 16n, 8n, 0n].map((s) => (address.value >> s) & 255n).join(".")
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) =>
    ((address.value >> s) & 0xffffn).toString(16),
  )
  let start = -1
  let length = 1
  for (let i = 0; i < 8; i++) {
    let j = i
    while (j < 8 && groups[j] === "0") j++
    if (j - i > length) [start, length] = [i, j - i]
    i = j
  }
  if (start < 0) return groups.join(":")
  return `${groups.slice(0, start).join(":")}::${groups.slice(start + length).join(":")}`
}

const parseCidr = (entry: string): Cidr | string => {
  const [text = "", length, ...rest] = entry.split("/")
  const address = parseAddress(text)
  if (address === undefined || rest.length > 0)
    return `${JSON.stringify(entry.slice(0, 60))} is not an IP address or CIDR block`
  const bits = bitsOf(address.family)
  // A CIDR written in IPv6 notation counts in IPv6 bits, even when it names mapped IPv4 space.
  const written = text.includes(":") ? 128 : 32
  if (length !== undefined && (!/^(?:0|[1-9]\d{0,2})$/.test(length) || Number(length) > written))
    return `${JSON.stringify(entry.slice(0, 60))} has a prefix length outside 0-${written}`
  if (bits < written && length !== undefined && Number(length) < 96)
    return `${JSON.stringify(entry.slice(0, 60))} names IPv4-mapped addresses with a prefix shorter than 96`
  const prefix = length === undefined ? bits : Number(length) - (written - bits)
  // The address a proxy appends for its client would be "trusted" too: the walk would always go
  // on into what the caller wrote, so no deployment means this.
  if (prefix === 0)
    return `${JSON.stringify(entry.slice(0, 60))} trusts every IPv${address.family} address, each client's own included (the caller would choose its source)`
  const host = (1n << BigInt(bits - prefix)) - 1n
  if ((address.value & host) !== 0n)
    return `${JSON.stringify(entry.slice(0, 60))} has address bits set past its prefix length`
  return { family: address.family, network: address.value, prefix }
}

/**
 * Parses a comma-separated list of IP addresses and CIDR blocks (spaces around entries and empty
 * entries ignored). Fails with a reason naming the first bad entry: not an address, a prefix
 * length out of range, bits set past the prefix (`10.0.0.1/8` — likely a typo that would
 * trust far more than meant), or a block of every address (`0.0.0.0/0`, `::/0`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const parse = (list: string): Result.Result<TrustedProxies, string> => {
  const cidrs: Array<Cidr> = []
  for (const raw of list.split(",")) {
    const entry = raw.trim()
    if (entry === "") continue
    const cidr = parseCidr(entry)
    if (typeof cidr === "string") return Result.fail(cidr)
    cidrs.push(cidr)
  }
  return Result.succeed({ cidrs })
}

/**
 * Whether `address` lies in one of the trusted blocks.
 *
 * @category utils
 * @since 0.1.0
 */
export const contains = (trusted: TrustedProxies, address: Address): boolean =>
  trusted.cidrs.some((c) => {
    if (c.family !== address.family) return false
    const shift = BigInt(bitsOf(c.family) - c.prefix)
    return address.value >> shift === c.network >> shift
  })

/**
 * One `X-Forwarded-For` element's address: bare, or with a port (`192.0.2.1:4711`,
 * `[2001:db8::1]:4711`, as some proxies write it). `undefined` when malformed.
 */
const elementAddress = (element: string): Address | undefined => {
  const bracketed = /^\[([^\]]*)\](?::\d{1,5})?$/.exec(element)
  const withPort = /^([\d.]+):\d{1,5}$/.exec(element)
  return parseAddress(bracketed?.[1] ?? withPort?.[1] ?? element)
}

/**
 * The source per-source quotas count: the socket `peer`, unless it is a trusted proxy; then the
 * right-most address of `forwardedFor` (`X-Forwarded-For`, repeated fields joined with commas)
 * that is not itself a trusted proxy, in its canonical text (`format`: however the proxy spelled
 * it, one address is one quota key). The walk stops there: what lies left of it came from the
 * caller. A malformed element met on the way, or no untrusted address at all, gives the peer.
 *
 * @category utils
 * @since 0.1.0
 */
export const clientAddress = (
  trusted: TrustedProxies,
  peer: string | undefined,
  forwardedFor: string | undefined,
): string | undefined => {
  if (trusted.cidrs.length === 0 || peer === undefined || forwardedFor === undefined) return peer
  const peerAddress = parseAddress(peer.split("%")[0]!)
  if (peerAddress === undefined || !contains(trusted, peerAddress)) return peer
  // Read from the right end without splitting the whole header (thousands of elements, most of
  // them the caller's): at most 64 elements, none longer than an address with a port is read.
  let end = forwardedFor.length
  for (let hop = 0; hop < 64 && end >= 0; hop++) {
    const start = forwardedFor.lastIndexOf(",", end - 1) + 1
    const raw = start <= end ? forwardedFor.slice(start, end) : ""
    if (raw.length > maxElement) return peer
    const element = elementAddress(raw.trim())
    if (element === undefined) return peer
    if (!contains(trusted, element)) return format(element)
    end = start - 1
  }
  return peer
}

/** The longest element read: a bracketed IPv6 address with a port, and some spaces around it. */
const maxElement = 80

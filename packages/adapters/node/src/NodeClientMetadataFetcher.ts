/**
 * The SSRF-safe fetcher of Client ID Metadata Documents (and their `jwks_uri`) on Node.
 *
 * Adapter for core's `ClientMetadataFetcher` port, on `node:https`/`node:http` and `node:dns`:
 * - https only; `http:` only to a loopback host under the development option;
 * - the host is resolved once, every resolved address is checked with core's `AddressPolicy`
 *   (private, loopback, link-local, CGNAT, metadata, reserved: refused), and the connection goes
 *   to that checked address (the `lookup` hook answers it), so DNS rebinding cannot switch it;
 * - no redirect is followed (a 3xx is a failure);
 * - only `200` with a JSON `Content-Type`; at most `maxBytes` (default 5 KiB); the whole exchange
 *   within `timeoutMs` (default 5 s); no cookies, no credentials;
 * - concurrent fetches of one URL are merged into one while it is in flight; at most
 *   `maxConcurrentPerHost` different URLs of one host (default 4), `maxConcurrentPerAddress` to one
 *   resolved address (default 4; an IPv6 address counts by its /64), `maxConcurrentPerSource`
 *   asked for by one requesting source (default 4; the source is core's
 *   `ClientMetadataFetcher.Source`, when the edge sets it) and `maxConcurrent` in all (default 32)
 *   are fetched at once; one more fails as `busy` at once. A client id is chosen by the caller, so
 *   without a bound anyone could make the proxy open any number of outbound requests, and with
 *   only the global bound one slow host (or one caller) could take every slot and deny every other
 *   metadata-document client. The host bound alone does not hold a machine: its ports and the
 *   names a wildcard DNS record gives it are hosts of their own; the address bound does.
 *
 * @since 0.1.0
 */
import { lookup as dnsLookup } from "node:dns/promises"
import { request as httpRequest, type IncomingMessage } from "node:http"
import { request as httpsRequest } from "node:https"
import { isIP, type LookupFunction } from "node:net"
import { AddressPolicy, ClientMetadataFetcher, OAuthError } from "@oidc-proxy/core"
import { Effect, Layer } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Development only: allow `http://` to loopback hosts and loopback addresses. Default false. */
  readonly allowLoopback?: boolean
  /** Largest body accepted, bytes. Default 5120. */
  readonly maxBytes?: number
  /** Time for the whole fetch, milliseconds. Default 5000. */
  readonly timeoutMs?: number
  /** Extra trusted CA certificates (PEM), e.g. a test server's self-signed certificate. */
  readonly ca?: string | ReadonlyArray<string>
  /** Different URLs fetched at once, at most; another one fails as `busy` at once. Default 32. */
  readonly maxConcurrent?: number
  /** Different URLs of one host (`host:port`) fetched at once, at most. Default 4. */
  readonly maxConcurrentPerHost?: number
  /** Different URLs fetched at once for one requesting source, at most. Default 4. */
  readonly maxConcurrentPerSource?: number
  /** Different URLs fetched at once from one resolved address (IPv6: one /64), at most. Default 4. */
  readonly maxConcurrentPerAddress?: number
  /** Name resolution (default `dns.lookup` with `all: true`); tests script it. */
  readonly resolve?: (hostname: string) => Promise<ReadonlyArray<{ address: string; family: number }>>
}

type Reason = OAuthError.ClientMetadataError["reason"]

class FetchFailure extends Error {
  readonly reason: Reason
  constructor(reason: Reason, message: string) {
    super(message)
    this.reason = reason
  }
}

const defaultResolve = (hostname: string) => dnsLookup(hostname, { all: true, verbatim: true })

/** Resolves `hostname` and returns the one address to connect to, or refuses. */
const pickAddress = async (
  hostname: string,
  options: Options,
): Promise<{ readonly address: string; readonly family: number }> => {
  const policy = { allowLoopback: options.allowLoopback === true }
  const literal = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname
  if (isIP(literal) !== 0) {
    if (!AddressPolicy.isAllowed(literal, policy))
      throw new FetchFailure("address", `the address kind ${AddressPolicy.classify(literal)} is not allowed`)
    return { address: literal, family: isIP(literal) }
  }
  let resolved: ReadonlyArray<{ address: string; family: number }>
  try {
    resolved = await (options.resolve ?? defaultResolve)(hostname)
  } catch {
    throw new FetchFailure("unreachable", "the host name does not resolve")
  }
  if (resolved.length === 0) throw new FetchFailure("unreachable", "the host name does not resolve")
  // Every address must be allowed: a name with one public and one private address is refused.
  for (const r of resolved) {
    if (!AddressPolicy.isAllowed(r.address, policy))
      throw new FetchFailure("address", `the host resolves to a ${AddressPolicy.classify(r.address)} address`)
  }
  return resolved[0]!
}

const isJson = (contentType: string | undefined): boolean => {
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase()
  return type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type)
}

const readBody = (response: IncomingMessage, maxBytes: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const declared = Number(response.headers["content-length"] ?? "0")
    if (declared > maxBytes) {
      response.destroy()
      return reject(new FetchFailure("too_large", `the document is larger than ${maxBytes} bytes`))
    }
    const chunks: Array<Buffer> = []
    let size = 0
    response.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        response.destroy()
        reject(new FetchFailure("too_large", `the document is larger than ${maxBytes} bytes`))
      } else chunks.push(chunk)
    })
    response.on("end", () => resolve(Buffer.concat(chunks)))
    response.on("error", () => reject(new FetchFailure("unreachable", "the response was cut off")))
  })

/**
 * Fetches one JSON document under the rules above. Rejects with a `reason`-carrying error.
 * `admit` is asked for a slot once the address to connect to is known (`busy` when it gives
 * none); the slot is released when the fetch settles.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fetchJson = async (
  url: string,
  options: Options = {},
  admit: (address: string) => (() => void) | undefined = () => () => {},
): Promise<ClientMetadataFetcher.Fetched> => {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    throw new FetchFailure("scheme", "not an absolute URL")
  }
  const loopbackName = ["127.0.0.1", "[::1]", "localhost"].includes(target.hostname)
  if (
    target.protocol !== "https:" &&
    !(target.protocol === "http:" && loopbackName && options.allowLoopback === true)
  )
    throw new FetchFailure("scheme", "only https URLs are fetched")
  if (target.username !== "" || target.password !== "")
    throw new FetchFailure("scheme", "userinfo is not allowed")
  const maxBytes = options.maxBytes ?? 5120
  const timeoutMs = options.timeoutMs ?? 5000
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  let release: (() => void) | undefined
  try {
    const pinned = await Promise.race([
      pickAddress(target.hostname, options),
      new Promise<never>((_, reject) =>
        controller.signal.addEventListener("abort", () => reject(new FetchFailure("timeout", "timed out"))),
      ),
    ])
    release = admit(pinned.address)
    if (release === undefined)
      throw new FetchFailure("busy", "too many client metadata documents are being fetched from one address")
    // The connection goes to the checked address whatever the resolver would say now.
    const lookup: LookupFunction = (_hostname, opts, callback) => {
      if ((opts as { all?: boolean }).all === true)
        (callback as (e: null, a: Array<{ address: string; family: number }>) => void)(null, [pinned])
      else callback(null, pinned.address, pinned.family)
    }
    const request = target.protocol === "https:" ? httpsRequest : httpRequest
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        target,
        {
          method: "GET",
          lookup,
          signal: controller.signal,
          headers: { accept: "application/json", "user-agent": "oidc-proxy (client metadata)" },
          ...(options.ca === undefined ? {} : { ca: [...[options.ca].flat()] }),
          agent: false,
        },
        resolve,
      )
      req.on("error", (e) =>
        reject(
          controller.signal.aborted
            ? new FetchFailure("timeout", "timed out")
            : new FetchFailure(
                "unreachable",
                `connection failed (${(e as NodeJS.ErrnoException).code ?? "error"})`,
              ),
        ),
      )
      req.end()
    })
    if (response.statusCode !== undefined && response.statusCode >= 300 && response.statusCode < 400) {
      response.destroy()
      throw new FetchFailure("redirect", "redirects are not followed")
    }
    if (response.statusCode !== 200) {
      response.destroy()
      throw new FetchFailure("status", `the server answered ${response.statusCode}`)
    }
    if (!isJson(response.headers["content-type"])) {
      response.destroy()
      throw new FetchFailure("content_type", "the Content-Type is not JSON")
    }
    const body = await readBody(response, maxBytes).catch((e: unknown) => {
      throw controller.signal.aborted ? new FetchFailure("timeout", "timed out") : e
    })
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString("utf8"))
    } catch {
      throw new FetchFailure("malformed", "the body is not JSON")
    }
    const cacheControl = response.headers["cache-control"]
    return { body: parsed, cacheControl }
  } finally {
    clearTimeout(timer)
    release?.()
  }
}

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options = {}): ClientMetadataFetcher.ClientMetadataFetcherShape => {
  // Fetches in flight, by URL: concurrent resolutions of one document share one fetch and all get
  // its result. An entry lives only while its fetch does (at most `timeoutMs`) and is removed when
  // it settles, so nothing is cached here (caching is core's, in the shared store) and a failure
  // reaches only the requests that were waiting for it. A waiter that is interrupted leaves the
  // fetch running for the others. Joining a fetch in flight takes no slot.
  const inFlight = new Map<string, Promise<ClientMetadataFetcher.Fetched>>()
  const slots = Slots.make([
    ["all", options.maxConcurrent ?? 32],
    ["host", options.maxConcurrentPerHost ?? 4],
    ["source", options.maxConcurrentPerSource ?? 4],
  ])
  // Claimed once the host is resolved (a name says nothing of the machine behind it).
  const addresses = Slots.make([["address", options.maxConcurrentPerAddress ?? 4]])
  const admit = (address: string) => addresses.claim({ address: addressKey(address) })
  const shared = (url: string, source: string | undefined): Promise<ClientMetadataFetcher.Fetched> => {
    let pending = inFlight.get(url)
    if (pending === undefined) {
      const release = slots.claim({ all: "", host: hostOf(url), source })
      if (release === undefined)
        return Promise.reject(
          new FetchFailure("busy", "too many client metadata documents are being fetched at once"),
        )
      pending = fetchJson(url, options, admit).finally(() => {
        inFlight.delete(url)
        release()
      })
      inFlight.set(url, pending)
    }
    return pending
  }
  return {
    fetch: (url) =>
      Effect.gen(function* () {
        const source = yield* ClientMetadataFetcher.Source
        return yield* Effect.tryPromise({
          try: () => shared(url, source),
          catch: (e) =>
            new OAuthError.ClientMetadataError({
              reason: e instanceof FetchFailure ? e.reason : "unreachable",
              description: e instanceof FetchFailure ? e.message : "the fetch failed",
            }),
        })
      }),
  }
}

/** `host:port` of `url`; an unparsable URL gets a key of its own (`fetchJson` refuses it anyway). */
const hostOf = (url: string): string => {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/**
 * What counts as one machine: an IPv4 address (also written IPv4-mapped), or an IPv6 /64 (one
 * subnet hands out any number of addresses).
 */
export const addressKey = (address: string): string => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (isIP(address) !== 6) return address
  const [head = "", tail] = address.split("::")
  const groups = head === "" ? [] : head.split(":")
  if (tail !== undefined) {
    const rest = tail === "" ? [] : tail.split(":")
    groups.push(...Array<string>(Math.max(0, 8 - groups.length - rest.length)).fill("0"), ...rest)
  }
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`
}

/**
 * Counted slots in named pools, each with a limit per key: a claim takes one slot in every pool at
 * once, or none. A key of `undefined` is not counted in that pool.
 */
const Slots = {
  make: <P extends string>(limits: ReadonlyArray<readonly [P, number]>) => {
    const load = new Map<string, number>()
    const id = (pool: string, key: string) => `${pool}\u0000${key}`
    return {
      claim: (keys: Readonly<Record<P, string | undefined>>): (() => void) | undefined => {
        const taken = limits
          .filter(([pool]) => keys[pool] !== undefined)
          .map(([pool, limit]) => ({
            id: id(pool, keys[pool] as string),
            limit,
          }))
        if (taken.some((t) => (load.get(t.id) ?? 0) >= t.limit)) return undefined
        for (const t of taken) load.set(t.id, (load.get(t.id) ?? 0) + 1)
        return () => {
          for (const t of taken) {
            const left = (load.get(t.id) ?? 1) - 1
            if (left === 0) load.delete(t.id)
            else load.set(t.id, left)
          }
        }
      },
    }
  },
}

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<never> =>
  Layer.succeed(ClientMetadataFetcher.ClientMetadataFetcher, make(options))

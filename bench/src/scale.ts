/**
 * The warm check at 1k…1M live sessions, as a gateway pays it: every size's cache is filled once
 * and kept, and the sizes are measured in alternating rounds in one process (medians), so a loaded
 * machine slows every size alike.
 *
 * Fill: the cache is filled through `VerifiedTokenCache.remember` with what the pipeline would
 * remember — a JWT-shaped bearer of a real proxy token's length (its payload the session's claims,
 * base64url), the `AccessToken` from `AccessToken.resolveAccessToken` over claims parsed per session
 * (`JSON.parse`, as the HMAC path decodes them) and a per-session scope array — plus ~1.7 KB of
 * other heap per session (a string, as the memory store holds a token set's ciphertext), allocated
 * in between so the cache's objects are spread over the heap as in a gateway. The hit path reads
 * none of the store, and it does not parse the bearer, so this measures the same code as a session
 * created and checked through the pipeline, at ~5 µs a session instead of ~100 µs.
 *
 * Requests: a bearer read from a request is a new string made from bytes the socket just
 * delivered (hot in the CPU caches). The old "fresh string" rows copied the client's stored token
 * (`Buffer.from(token).toString()`), a read of cold memory a gateway never pays. Here the bearers of
 * a batch are first written to one staging buffer (not timed: that is the socket's job), then each
 * request slices its string from it and checks it (timed), so a row pays exactly the lookup a
 * gateway pays. The clients' tokens are kept apart from the cache's keys (another buffer), so
 * staging them warms nothing the lookup reads.
 */
import { randomBytes } from "node:crypto"
import type { AccessToken, BearerDecision, VerifiedTokenCache } from "@oidc-proxy/core"
import { AccessToken as AccessTokens } from "@oidc-proxy/core"

/** One size's sessions: the clients' bearers (off-heap, packed), and what the gateway keeps. */
export interface Population {
  readonly size: number
  /** The clients' bearers, back to back: request `i` is `bytes[offsets[i]..offsets[i+1])`. */
  readonly bytes: Buffer
  readonly offsets: Uint32Array
  /** The cache's keys (the gateway's own strings), for the control maps. */
  readonly keys: Array<string>
  /** Other per-session heap (the store's share); held, never read. */
  readonly ballast: Array<string>
}

const b64 = (s: string) => Buffer.from(s).toString("base64url")

/**
 * Fills `caches` with `size` sessions shaped like `template` (a real proxy token: its header and
 * claims are reused, with a per-session `jti`/`sub` and a random signature); every cache gets the
 * same key strings and `AccessToken` objects.
 */
export const populate = (
  caches: ReadonlyArray<VerifiedTokenCache.VerifiedTokenCache>,
  size: number,
  template: { readonly token: string; readonly claims: Record<string, unknown> },
  progress: (done: number) => void,
): Population => {
  const [header] = template.token.split(".")
  const now = Date.now()
  const pool = randomBytes(1 << 16)
  const chars = pool.toString("base64url")
  const keys: Array<string> = []
  const ballast: Array<string> = []
  const bytes = Buffer.alloc(size * (template.token.length + 64))
  const offsets = new Uint32Array(size + 1)
  const verified = { sub: "user-1", iss: "https://upstream.test", aud: "client", exp: now / 1000 + 3600 }
  for (let i = 0; i < size; i++) {
    const at = (i * 7919) % 60_000
    const payload = JSON.stringify({ ...template.claims, jti: `j${i}-${chars.slice(at, at + 12)}` })
    const bearer = `${header}.${b64(payload)}.${chars.slice(at, at + 43)}`
    // The gateway's key is a flat string made from a request's bytes, not the client's copy.
    offsets[i + 1] = offsets[i]! + bytes.write(bearer, offsets[i]!, "latin1")
    const key = bytes.toString("latin1", offsets[i]!, offsets[i + 1]!)
    const claims = JSON.parse(payload) as Parameters<typeof AccessTokens.resolveAccessToken>[3]["claims"]
    const upstream = JSON.parse(`{"id":"u${i}","scope":["openid","tools"]}`)
    const accessToken: AccessToken.AccessToken = AccessTokens.resolveAccessToken(
      "id_token",
      upstream,
      verified as never,
      { token: key, claims },
    )
    for (const cache of caches)
      cache.remember(
        key,
        accessToken,
        { jti: claims.jti, upstreamId: upstream.id },
        now + 3_600_000,
        now,
        cache.epoch(),
      )
    ballast.push(pool.toString("latin1", at, at + 1700))
    keys.push(key)
    if ((i + 1) % 100_000 === 0) progress(i + 1)
  }
  for (const cache of caches)
    if (cache.size() !== size) throw new Error(`cache holds ${cache.size()} of ${size}`)
  return { size, bytes, offsets, keys, ballast }
}

const cpuNow = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** Requests per batch: their bytes (~170 KB) fit the L2 cache, as a socket's just-read bytes. */
const batch = 512

/**
 * CPU µs per request of `op(bearer)` over `n` requests to random sessions of `pop`, where `bearer`
 * is a new string sliced from hot bytes; staging the bytes is not counted.
 */
export const measureHot = (
  pop: Population,
  n: number,
  seed: number,
  op: (bearer: string) => unknown,
): number => {
  const staging = Buffer.alloc(batch * 1024)
  const starts = new Uint32Array(batch + 1)
  let k = seed >>> 0
  let cpu = 0
  for (let done = 0; done < n; done += batch) {
    for (let j = 0; j < batch; j++) {
      // A 32-bit LCG; its high bits pick the session (no locality to help the lookup).
      k = (Math.imul(k, 1103515245) + 12345) >>> 0
      const i = (k >>> 7) % pop.size
      const from = pop.offsets[i]!
      const to = pop.offsets[i + 1]!
      pop.bytes.copy(staging, starts[j]!, from, to)
      starts[j + 1] = starts[j]! + (to - from)
    }
    const before = cpuNow()
    for (let j = 0; j < batch; j++) op(staging.toString("latin1", starts[j]!, starts[j + 1]!))
    cpu += cpuNow() - before
  }
  return cpu / (Math.ceil(n / batch) * batch)
}

/** The check a gateway runs first (`LoadAccessToken.makeCachedCheck`), asserting an Allow. */
export const allowing =
  (check: (bearer: string, nowMillis: number) => BearerDecision.Decision | undefined) => (bearer: string) => {
    const d = check(bearer, Date.now())
    if (d?._tag !== "Allow") throw new Error(`not allowed from the cache: ${JSON.stringify(d)}`)
  }

/**
 * PKCE with S256 only: verifying a client's `code_verifier` and making the proxy's own pair for
 * the upstream.
 *
 * Pure core (WebCrypto digest).
 *
 * @see [RFC 7636 §4](https://www.rfc-editor.org/rfc/rfc7636#section-4)
 * @since 0.1.0
 */
import { Effect } from "effect"
import { Base64Url } from "effect/encoding"
import { constantTimeEqual } from "./internal/constantTime.ts"

/**
 * A `code_verifier` or S256 `code_challenge`: 43–128 unreserved characters.
 *
 * @category utils
 * @since 0.1.0
 */
export const isWellFormed = (value: string): boolean => /^[A-Za-z0-9\-._~]{43,128}$/.test(value)

/**
 * The S256 challenge of a verifier: BASE64URL(SHA-256(verifier)).
 *
 * @category utils
 * @since 0.1.0
 */
export const challengeOf = (verifier: string): Effect.Effect<string> =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))).pipe(
    Effect.map((digest) => Base64Url.encode(new Uint8Array(digest))),
  )

/**
 * `true` when `verifier` is well formed and its S256 challenge equals `challenge`.
 *
 * @category utils
 * @since 0.1.0
 */
export const verify = (verifier: string, challenge: string): Effect.Effect<boolean> =>
  isWellFormed(verifier)
    ? Effect.map(challengeOf(verifier), (c) => constantTimeEqual(c, challenge))
    : Effect.succeed(false)

/**
 * The upstream IdP's published signing keys (JWKS), as a port.
 *
 * Port. `current` answers from whatever cache the adapter keeps; `refresh` is asked when a token
 * names a `kid` the current set does not hold (the adapter decides whether a refetch is allowed,
 * e.g. once per cooldown, and otherwise returns the set it has). `layerStatic` serves a fixed set,
 * for tests and for IdPs whose keys are configured by hand.
 *
 * @see [RFC 7517 §5](https://www.rfc-editor.org/rfc/rfc7517#section-5)
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref } from "effect"
import type { JSONWebKeySet } from "jose"
import type { UpstreamError } from "./OAuthError.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface JwksShape {
  readonly current: Effect.Effect<JSONWebKeySet, UpstreamError>
  readonly refresh: (kid: string | undefined) => Effect.Effect<JSONWebKeySet, UpstreamError>
  /**
   * Optional: what `current` would answer at `nowMillis` (epoch ms) when the adapter can say so
   * without I/O (a fresh cached set), else `undefined`. Lets the upstream verifier answer
   * synchronously; it must agree with `current`.
   */
  readonly currentSync?: (nowMillis: number) => JSONWebKeySet | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class Jwks extends Context.Service<Jwks, JwksShape>()("@oidc-proxy/core/Jwks") {}

/**
 * A fixed key set.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStatic = (jwks: JSONWebKeySet): Layer.Layer<Jwks> =>
  Layer.succeed(
    Jwks,
    Jwks.of({ current: Effect.succeed(jwks), refresh: () => Effect.succeed(jwks), currentSync: () => jwks }),
  )

/**
 * A key set held in a `Ref`, so a test can rotate keys while the proxy runs.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerRef = (ref: Ref.Ref<JSONWebKeySet>): Layer.Layer<Jwks> =>
  Layer.succeed(
    Jwks,
    Jwks.of({ current: Ref.get(ref), refresh: () => Ref.get(ref), currentSync: () => Ref.getUnsafe(ref) }),
  )

/**
 * The randomness port: unguessable identifiers for tokens, codes and transactions.
 *
 * Port. The default reads WebCrypto's CSPRNG (every runtime has it); `layerTest` makes flows
 * deterministic under test.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface EntropyShape {
  /** A base64url string of `bytes` random bytes (default 32, i.e. 256 bits). */
  readonly token: (bytes?: number) => Effect.Effect<string>
}

const toBase64Url = (bytes: Uint8Array): string => {
  let s = ""
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")
}

const webCrypto: EntropyShape = {
  token: (bytes = 32) => Effect.sync(() => toBase64Url(crypto.getRandomValues(new Uint8Array(bytes)))),
}

/**
 * The randomness source; WebCrypto's CSPRNG unless another is provided.
 *
 * @category services
 * @since 0.1.0
 */
export const Entropy = Context.Reference<EntropyShape>("@oidc-proxy/core/Entropy", {
  defaultValue: () => webCrypto,
})

/**
 * A counter-based source: `prefix-1`, `prefix-2`, … (tests only).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerTest = (prefix = "test"): Layer.Layer<never> => {
  let n = 0
  return Layer.succeed(Entropy, { token: () => Effect.sync(() => `${prefix}-${++n}`) })
}

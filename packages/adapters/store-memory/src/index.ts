/**
 * @oidc-proxy/store-memory — the in-memory `Store` (tests, one process). It is core's
 * `Store.layerMemory`: entries expire by `Clock`, `take` is atomic within the process, and the
 * whole is held within a byte budget (64 MiB by default; expired entries dropped first, then the
 * least recently written that is not a one-time mark: `setIfAbsent` values stay until they expire).
 *
 * @since 0.1.0
 */
import { Store } from "@oidc-proxy/core"

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = Store.layerMemory

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Store.makeMemory

/**
 * The store with its own byte budget (`Store.MemoryOptions`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerWith = Store.layerMemoryWith

/**
 * Free ports on 127.0.0.1 for servers and child processes a test starts itself.
 *
 * @since 0.1.0
 */
import { type AddressInfo, createServer } from "node:net"

/**
 * A port that was free a moment ago (the kernel picks it).
 *
 * @since 0.1.0
 */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })

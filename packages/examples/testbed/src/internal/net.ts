/**
 * Node HTTP server helpers shared by the test servers: bind to 127.0.0.1 and close promptly.
 *
 * Internal; not exported from the package.
 *
 * @since 0.1.0
 */
import type { Server } from "node:http"
import type { AddressInfo } from "node:net"

/** Binds `server` to 127.0.0.1 (port 0 picks a free port) and resolves with the bound port. */
export const listen = (server: Server, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject)
      resolve((server.address() as AddressInfo).port)
    })
  })

/** Closes the server and drops keep-alive sockets, so `afterAll` does not wait for idle connections. */
export const close = (server: Server): Promise<void> =>
  new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    server.closeAllConnections()
  })

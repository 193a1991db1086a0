/**
 * A Client ID Metadata Document server for tests: https on 127.0.0.1 with a throw-away
 * self-signed certificate (made by `openssl`), serving one JSON document at a path and counting
 * every request, so a test can assert that nothing was fetched.
 *
 * Testing adapter. The MCP SDK client only accepts an https `clientMetadataUrl`; the proxy's
 * fetcher trusts the certificate through its `ca` option and reaches 127.0.0.1 only with the
 * development option on.
 *
 * @since 0.1.0
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createServer } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { close, listen } from "./internal/net.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface DocumentServerOptions {
  /** Path of the document; default `/oauth/client.json`. */
  readonly path?: string
  /** The document, from its own URL (so it can name itself as `client_id`). */
  readonly document: (url: string) => unknown
  /** `Cache-Control` of the answer; default `max-age=300`. */
  readonly cacheControl?: string
}

/**
 * @category models
 * @since 0.1.0
 */
export interface RunningDocumentServer {
  /** The document's URL: `https://127.0.0.1:<port><path>`. */
  readonly url: string
  /** The server certificate (PEM), to trust it. */
  readonly ca: string
  /** Every request's path, in order. */
  readonly requests: ReadonlyArray<string>
  close(): Promise<void>
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, valid for one day.
 *
 * @category constructors
 * @since 0.1.0
 */
export const selfSignedCertificate = (): { readonly key: string; readonly cert: string } => {
  const dir = mkdtempSync(join(tmpdir(), "oidc-proxy-tls-"))
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:docs.test",
      ],
      { stdio: "ignore" },
    )
    return {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Starts the document server.
 *
 * @category constructors
 * @since 0.1.0
 */
export const startDocumentServer = async (options: DocumentServerOptions): Promise<RunningDocumentServer> => {
  const tls = selfSignedCertificate()
  const path = options.path ?? "/oauth/client.json"
  const requests: Array<string> = []
  let url = ""
  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    requests.push(req.url ?? "")
    if (req.method !== "GET" || req.url !== path) {
      res.writeHead(404, { "content-type": "application/json" })
      return res.end("{}")
    }
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": options.cacheControl ?? "max-age=300",
    })
    res.end(JSON.stringify(options.document(url)))
  })
  const port = await listen(server as unknown as import("node:http").Server, 0)
  url = `https://127.0.0.1:${port}${path}`
  return { url, ca: tls.cert, requests, close: () => close(server as unknown as import("node:http").Server) }
}

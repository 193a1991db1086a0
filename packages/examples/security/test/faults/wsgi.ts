/**
 * The WSGI target of the identity-header tests (`wsgi_target.py`, Python's `wsgiref`) as a child
 * process, and raw HTTP/1.1 over `node:net` — bytes written as given, so header spellings an HTTP
 * client library would normalise or refuse reach the gateway unchanged.
 *
 * Test support. Everything on 127.0.0.1.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { connect } from "node:net"
import { createInterface } from "node:readline"

export const pythonAvailable = spawnSync("python3", ["--version"]).status === 0

export interface Wsgi {
  /** The target URL for `OIDC_PROXY_TARGET` (`/mcp` on the WSGI server). */
  readonly url: string
  readonly stop: () => Promise<void>
}

/** Starts `wsgi_target.py`; resolves once it printed its port. */
export const startWsgi = async (): Promise<Wsgi> => {
  const child: ChildProcess = spawn("python3", [`${import.meta.dirname}/wsgi_target.py`], {
    stdio: ["ignore", "pipe", "inherit"],
  })
  const port = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`wsgi_target.py exited ${code}`)))
    createInterface({ input: child.stdout! }).once("line", resolve)
  })
  return {
    url: `http://127.0.0.1:${port.trim()}/mcp`,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill()
      await exited
    },
  }
}

export interface RawResponse {
  readonly status: number
  /** Lower-case names; repeated fields joined with `, `. */
  readonly headers: Record<string, string>
  /** De-chunked when `transfer-encoding: chunked`. */
  readonly body: string
}

const dechunk = (data: string): string => {
  let out = ""
  let at = 0
  for (;;) {
    const eol = data.indexOf("\r\n", at)
    const size = Number.parseInt(data.slice(at, eol), 16)
    if (eol < 0 || !(size > 0)) return out
    out += data.slice(eol + 2, eol + 2 + size)
    at = eol + 2 + size + 2
  }
}

/**
 * Writes `bytes` to `port` on 127.0.0.1 and reads the answer until the server closes (send
 * `Connection: close`); at most 10 s. A reset after an answer (Node after a 400/431) still yields it.
 */
export const rawExchange = (port: number, bytes: string): Promise<RawResponse> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    const chunks: Array<Buffer> = []
    const done = () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString("utf8")
      const split = text.indexOf("\r\n\r\n")
      const lines = text.slice(0, split < 0 ? text.length : split).split("\r\n")
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1])
      if (!(status > 0)) return reject(new Error(`no HTTP answer: ${JSON.stringify(text.slice(0, 200))}`))
      const headers: Record<string, string> = {}
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":")
        const name = line.slice(0, colon).toLowerCase()
        const value = line.slice(colon + 1).trim()
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
      }
      const rest = split < 0 ? "" : text.slice(split + 4)
      resolve({ status, headers, body: headers["transfer-encoding"] === "chunked" ? dechunk(rest) : rest })
    }
    const timer = setTimeout(() => socket.destroy(), 10_000)
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("close", done)
    socket.on("error", () => {
      // reset after the answer: `close` follows and parses what arrived
    })
    socket.write(bytes, "latin1")
  })

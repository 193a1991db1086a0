/**
 * The load generator, in its own process:
 * `node load.ts <url> <token|-> <seconds> <connections> [tools/call|tools/list]` (default `tools/call`).
 * Prints one JSON line: requests/s, p50/p99 latency (ms), requests done, non-2xx count.
 */
import autocannon from "autocannon"

const [url, token, seconds, connections, method] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string | undefined,
]
const body = JSON.stringify(
  method === "tools/list"
    ? { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }
    : {
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "ping", arguments: { message: "hello" } },
      },
)
const result = await autocannon({
  url,
  method: "POST",
  duration: Number(seconds),
  connections: Number(connections),
  headers: {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...(token === "-" ? {} : { authorization: `Bearer ${token}` }),
  },
  body,
})
process.stdout.write(
  `${JSON.stringify({
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  })}\n`,
)

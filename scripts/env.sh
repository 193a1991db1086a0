# Source this to put the project's toolchain first on PATH in an interactive shell.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$_root/.tools/pnpm/node_modules/.bin:$(ls -d "$_root"/.tools/node/node_modules/node-*/bin 2>/dev/null | head -1):$_root/node_modules/.bin:$PATH"
# Workspace packages resolve to their TypeScript sources (the `@oidc-proxy/source` export condition).
case " ${NODE_OPTIONS:-} " in
  *" --conditions=@oidc-proxy/source "*) ;;
  *) export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--conditions=@oidc-proxy/source" ;;
esac

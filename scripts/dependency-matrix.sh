#!/usr/bin/env bash
# Runs the @rdskit/rds suite against the lowest and the newest versions of postgres and drizzle-orm that its
# peer ranges allow, resolved on the registry, so the ranges say what is tested. Each row installs into a
# temporary copy of the working tree (nothing here changes), with rds's dev dependencies pinned to that row.
# Usage: scripts/dependency-matrix.sh [lowest|newest]...   (default: both)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/toolchain.sh >/dev/null

peer() { node -e "process.stdout.write(require('./packages/rds/package.json').peerDependencies['$1'])"; }

# The versions the registry has inside a range, oldest first (pre-releases excluded).
resolve() {
  local name=$1 range=$2 which=$3
  pnpm view "$name@$range" version --json |
    node -e "
      const all = [].concat(JSON.parse(require('fs').readFileSync(0, 'utf8'))).filter((v) => !v.includes('-'))
      const list = all.sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
      if (list.length === 0) process.exit(1)
      process.stdout.write('$which' === 'lowest' ? list[0] : list[list.length - 1])"
}

rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(lowest newest)
status=0
for row in "${rows[@]}"; do
  postgres=$(resolve postgres "$(peer postgres)" "$row")
  drizzle=$(resolve drizzle-orm "$(peer drizzle-orm)" "$row")
  echo "matrix: $row: postgres@$postgres drizzle-orm@$drizzle"
  copy=$(mktemp -d "${TMPDIR:-/tmp}/rdskit-matrix-XXXXXX")
  # The working tree as it is (tracked and new files), without installs or build output.
  git ls-files --cached --others --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$copy"
  (
    cd "$copy"
    node -e "
      const fs = require('fs')
      const file = 'packages/rds/package.json'
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8'))
      pkg.devDependencies.postgres = '$postgres'
      pkg.devDependencies['drizzle-orm'] = '$drizzle'
      fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n')"
    pnpm install --no-frozen-lockfile --prefer-offline --reporter=silent
    # The row really is installed: fail loudly if pnpm resolved something else.
    node -e "
      for (const [name, want] of [['postgres', '$postgres'], ['drizzle-orm', '$drizzle']]) {
        const got = require('./packages/rds/node_modules/' + name + '/package.json').version
        if (got !== want) { console.error('matrix: ' + name + ' is ' + got + ', not ' + want); process.exit(1) }
      }"
    pnpm --filter @rdskit/rds exec vitest run
  ) || status=1
  rm -rf "$copy"
done
exit "$status"

#!/usr/bin/env bash
# Runs the @rdskit/rds suite against the lowest and the newest versions of postgres and drizzle-orm that its
# peer ranges allow, resolved on the registry, so the ranges say what is tested. Each row installs into a
# temporary copy of the working tree (nothing here changes), with rds's dev dependencies pinned to that row.
# Usage: scripts/dependency-matrix.sh [lowest|newest]...   (default: both)
# To try other versions or a few test files (finding a new floor): MATRIX_POSTGRES=3.4.2 MATRIX_DRIZZLE=0.44.1
# MATRIX_VITEST_ARGS="test/liveness.test.ts" scripts/dependency-matrix.sh lowest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/toolchain.sh >/dev/null

peer() { node -e "process.stdout.write(require('./packages/rds/package.json').peerDependencies['$1'])"; }

# The lowest or newest release on the registry inside a peer range of the form ">=x.y.z <x.y.z".
resolve() {
  local name=$1 range=$2 which=$3
  pnpm view "$name" versions --json |
    node -e "
      const range = '$range'
      const m = /^>=(\\d+\\.\\d+\\.\\d+) <(\\d+\\.\\d+\\.\\d+)$/.exec(range)
      if (!m) { console.error('matrix: peer range ' + range + ' of $name is not \\'>=x.y.z <x.y.z\\''); process.exit(1) }
      const key = (v) => v.split('.').map(Number).reduce((sum, part) => sum * 10000 + part, 0)
      const list = [].concat(JSON.parse(require('fs').readFileSync(0, 'utf8')))
        .filter((v) => /^\\d+\\.\\d+\\.\\d+$/.test(v) && key(v) >= key(m[1]) && key(v) < key(m[2]))
        .sort((a, b) => key(a) - key(b))
      if (list.length === 0) { console.error('matrix: no release of $name in ' + range); process.exit(1) }
      process.stdout.write('$which' === 'lowest' ? list[0] : list[list.length - 1])"
}

rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(lowest newest)
status=0
for row in "${rows[@]}"; do
  postgres=${MATRIX_POSTGRES:-$(resolve postgres "$(peer postgres)" "$row")}
  drizzle=${MATRIX_DRIZZLE:-$(resolve drizzle-orm "$(peer drizzle-orm)" "$row")}
  echo "matrix: $row: postgres@$postgres drizzle-orm@$drizzle"
  copy=$(mktemp -d "${TMPDIR:-/tmp}/rdskit-matrix-XXXXXX")
  # The embedded PostgreSQL binaries inside run as the postgres OS user when we are root.
  chmod 755 "$copy"
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
    # shellcheck disable=SC2086 # MATRIX_VITEST_ARGS is a list of arguments
    pnpm --filter @rdskit/rds exec vitest run ${MATRIX_VITEST_ARGS:-}
  ) || status=1
  rm -rf "$copy"
done
exit "$status"

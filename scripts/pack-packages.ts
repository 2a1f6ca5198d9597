/**
 * `pnpm pack:packages [dir]`: the publishable packages as npm tarballs (default `.artifacts/`), the way they
 * would reach the registry (`workspace:` ranges resolved, only the `files` they publish), ready for
 * `npm install ./rdskit-rds-<version>.tgz` in any project. Expects the packages built (the root script
 * builds them first). Prints one tarball path a line.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const publishedPackages = ['kms-env', 'rds'] as const

/** Packs each published package into `dir`; returns the tarballs' absolute paths. */
export function packPackages(dir: string): string[] {
  mkdirSync(dir, { recursive: true })
  return publishedPackages.map((name) => {
    const out = execFileSync('pnpm', ['pack', '--pack-destination', dir, '--json'], {
      cwd: join(root, 'packages', name),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    return (JSON.parse(out) as { filename: string }).filename
  })
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? join(root, '.artifacts'))
  for (const tarball of packPackages(dir)) console.log(tarball)
}

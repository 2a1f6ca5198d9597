/**
 * `pnpm build`: bundles the Lambda entry points with the esbuild settings the CDK stack uses
 * (infra/bundling.ts) into dist/<name>/index.mjs, and prints their sizes. The tests import dist/api
 * exactly as it would be deployed; the benchmarks measure it.
 */
import { cpSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { appDir, entries, esbuildSettings } from '../infra/bundling.ts'

/**
 * The bundle-size budget of the API function (minified, AWS SDK clients included). Powertools takes
 * ~156 KiB of it: the Tracer with the X-Ray SDK (aws-xray-sdk-core, semver, cls-hooked) ~114 KiB, Logger and
 * Metrics ~33 KiB. The Powertools Lambda layer would carry those outside the bundle.
 */
export const apiBundleBudget = 580 * 1024

export const bundle = async (outRoot = join(appDir, 'dist')) => {
  rmSync(outRoot, { recursive: true, force: true })
  const sizes: Record<string, number> = {}
  for (const [name, entry] of Object.entries(entries)) {
    const outfile = join(outRoot, name, 'index.mjs')
    mkdirSync(join(outRoot, name), { recursive: true })
    await build({
      ...esbuildSettings,
      banner: { js: esbuildSettings.banner },
      entryPoints: [entry],
      outfile,
      logLevel: 'warning',
    })
    sizes[name] = statSync(outfile).size
  }
  cpSync(join(appDir, 'drizzle'), join(outRoot, 'migrate', 'drizzle'), { recursive: true })
  return sizes
}

if (import.meta.main) {
  const sizes = await bundle()
  for (const [name, size] of Object.entries(sizes)) {
    const note = name === 'api' ? ` (budget ${(apiBundleBudget / 1024).toFixed(0)} KiB)` : ''
    process.stdout.write(`dist/${name}/index.mjs  ${(size / 1024).toFixed(1)} KiB${note}\n`)
  }
  if ((sizes.api ?? 0) > apiBundleBudget) {
    process.stderr.write('the API bundle is over its size budget\n')
    process.exitCode = 1
  }
}

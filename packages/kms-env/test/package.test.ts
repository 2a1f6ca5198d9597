import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import pkg from '../package.json' with { type: 'json' }

const root = new URL('..', import.meta.url).pathname
const built = existsSync(new URL('../dist/index.js', import.meta.url))

describe('the published package', () => {
  it('is built before this test runs (turbo builds it; run `pnpm build` by hand otherwise)', () => {
    expect(built).toBe(true)
  })

  it('packs only dist JavaScript and declarations, the README, the CHANGELOG, the LICENSE and package.json', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
    })
    const files =
      (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? []
    for (const file of files)
      expect(file).toMatch(/^(dist\/[\w-]+\.(js|d\.ts)|README\.md|CHANGELOG\.md|LICENSE|package\.json)$/)
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.d.ts',
        'dist/cli.js',
        'README.md',
        'CHANGELOG.md',
        'LICENSE',
      ]),
    )
  })

  it('ships the bin with its shebang, ESM only, with types first in exports and no side effects', () => {
    expect(pkg.bin['rdskit-kms']).toBe('./dist/cli.js')
    expect(
      readFileSync(new URL('../dist/cli.js', import.meta.url), 'utf8').startsWith('#!/usr/bin/env node\n'),
    ).toBe(true)
    expect(pkg.type).toBe('module')
    expect(pkg.sideEffects).toBe(false)
    expect(Object.keys(pkg.exports['.'])).toEqual(['types', 'default'])
    expect(Object.keys(pkg.peerDependencies)).toEqual(['@aws-sdk/client-kms', '@middy/core'])
  })
})

import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'vitepress'
import { afterAll, describe, expect, it } from 'vitest'
import { docsRoot } from './markdown.ts'

// A one-page site built with this site's own config: proof that a dead link fails `vitepress build`,
// which is the first half of this package's `test` script.
const fixture = join(docsRoot, '.dead-link-fixture')

describe('vitepress build with the site config', () => {
  afterAll(() => rmSync(fixture, { recursive: true, force: true }))

  it('fails on a link to a page that does not exist, naming it', async () => {
    rmSync(fixture, { recursive: true, force: true })
    mkdirSync(join(fixture, '.vitepress'), { recursive: true })
    writeFileSync(
      join(fixture, '.vitepress', 'config.ts'),
      "export { default } from '../../.vitepress/config.ts'\n",
    )
    writeFileSync(join(fixture, 'index.md'), '# Fixture\n\nSee [the missing page](./guide/missing).\n')
    const logged: string[] = []
    const error = console.error
    const warn = console.warn
    console.error = (...args: unknown[]) => void logged.push(args.join(' '))
    console.warn = (...args: unknown[]) => void logged.push(args.join(' '))
    try {
      await expect(build(fixture, { outDir: join(fixture, 'dist') })).rejects.toThrow(/dead link/i)
    } finally {
      console.error = error
      console.warn = warn
    }
    expect(logged.join('\n')).toMatch(/guide\/missing/)
  })
})

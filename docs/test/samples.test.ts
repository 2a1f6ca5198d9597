import { execFile } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { docsRoot, type Fence, fences, listPages, readPage } from './markdown.ts'

/**
 * Every ```ts block of the site is written to docs/.samples/<page>/ and typechecked with tsc against the
 * real packages (their built `dist` types, which turbo builds before this test). A block whose info string
 * carries `[path]` (e.g. ```ts [db/schema.ts]) is written to that path in every page's directory, so the
 * schema the guide shows is the one its samples import. A block marked `no-check` is skipped, and the
 * paragraph before it must say why (it needs a package rdskit does not depend on).
 */
const samplesDir = join(docsRoot, '.samples')
const isTs = (fence: Fence) => fence.lang === 'ts' || fence.lang === 'typescript'
const noCheck = (fence: Fence) => /(^|\s)no-check(\s|$)/.test(fence.meta)
const pathOf = (fence: Fence) => /\[([^\]]+\.ts)\]/.exec(fence.meta)?.[1]

// English pages only: test/pages.test.ts asserts that the Japanese pages carry the same code blocks.
const pages = listPages().filter((page) => !page.startsWith('ja/'))
const samples = pages.flatMap((page) =>
  fences(readPage(page))
    .filter(isTs)
    .map((fence) => ({ page, fence })),
)
const shared = samples.filter(({ fence }) => pathOf(fence) && !noCheck(fence))

const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc')

describe('the TypeScript samples of the guide', () => {
  it('finds the samples, and the schema they import', () => {
    expect(samples.length).toBeGreaterThan(10)
    expect(shared.map(({ fence }) => pathOf(fence))).toContain('db/schema.ts')
  })

  it('explains, just before it, every sample that is not typechecked', () => {
    const unexplained = samples
      .filter(({ fence }) => noCheck(fence))
      .filter(({ page, fence }) => {
        const before = readPage(page)
          .split('\n')
          .slice(Math.max(0, fence.line - 6), fence.line - 1)
          .join(' ')
        return !/not typechecked|no-check/.test(before)
      })
      .map(({ page, fence }) => `${page}:${fence.line}`)
    expect(unexplained).toEqual([])
  })

  it('typechecks every other sample against the packages with the repository tsconfig', async () => {
    rmSync(samplesDir, { recursive: true, force: true })
    const origin = new Map<string, string>()
    for (const page of pages) {
      const dir = join(samplesDir, page.replace(/\.md$/, '').replace(/\//g, '__'))
      const own = samples.filter((s) => s.page === page && !noCheck(s.fence))
      if (own.length === 0) continue
      for (const { fence } of shared) {
        const file = join(dir, pathOf(fence) as string)
        mkdirSync(dirname(file), { recursive: true })
        writeFileSync(file, fence.code)
      }
      own.forEach(({ fence }, index) => {
        if (pathOf(fence)) return
        const file = join(dir, `sample-${index + 1}.ts`)
        mkdirSync(dir, { recursive: true })
        // `export {}` keeps each sample a module, so two samples may both declare `handler`.
        writeFileSync(file, `${fence.code}\nexport {}\n`)
        origin.set(file, `${page}:${fence.line}`)
      })
    }
    writeFileSync(
      join(samplesDir, 'tsconfig.json'),
      JSON.stringify(
        {
          extends: '../../tsconfig.base.json',
          compilerOptions: { noEmit: true, declaration: false, declarationMap: false, sourceMap: false },
          include: ['**/*.ts'],
        },
        null,
        2,
      ),
    )
    const result = await promisify(execFile)(
      process.execPath,
      [tsc, '-p', join(samplesDir, 'tsconfig.json'), '--pretty', 'false'],
      {
        cwd: docsRoot,
      },
    ).then(
      () => ({ code: 0, output: '' }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code ?? 1,
        output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
      }),
    )
    // Name the page and line of the block, not the temp file.
    const located = result.output.replace(
      /^\.samples\/(\S+?)\((\d+),(\d+)\)/gm,
      (match, file: string, line: string) => {
        const page = origin.get(join(samplesDir, file))
        return page ? `${page} (block line ${line})` : match
      },
    )
    expect(located).toBe('')
    expect(result.code).toBe(0)
    expect(origin.size).toBeGreaterThan(10)
  })
})

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { docsRoot, readPage } from './markdown.ts'

/**
 * The benchmarks page only copies what the packages measured: every number in a table after a
 * `<!-- bench:<package>-… -->` marker (and in the list of ratios under it) must appear in that package's README (where `pnpm bench` results
 * are recorded), and the English and Japanese tables carry the same numbers.
 */
const readmes: Record<string, string> = {
  'kms-env': join(docsRoot, '..', 'packages', 'kms-env', 'README.md'),
  rds: join(docsRoot, '..', 'packages', 'rds', 'README.md'),
  sample: join(docsRoot, '..', 'apps', 'sample-api', 'README.md'),
}

/** `{ marker: table text }` for every bench table of a page. */
function benchTables(markdown: string): Map<string, string> {
  const tables = new Map<string, string>()
  // The table, and the list of ratios right after it.
  for (const match of markdown.matchAll(
    /<!-- bench:([\w-]+) -->\n((?:\|.*\n?)+)((?:\n?(?:- | {2}).*\n?)*)/g,
  )) {
    tables.set(match[1] ?? '', `${match[2] ?? ''}${match[3] ?? ''}`)
  }
  return tables
}

const measurement = /\d[\d,]*(?:\.\d+)?\s?(?:ms|µs|ns|s|×|KiB|KB|kB|MB|req\/s|%)/g
/** A cell holding only a number (`| 181 |`, `| 53 318 |`): compared as a whole README table cell. */
const bareCell = /(?<=\|)\s*(\d[\d ,.]*)\s*(?=\|)/g
const numbersOf = (table: string) => [
  ...[...table.matchAll(measurement)].map((m) => m[0].replace(/\s/g, '')),
  ...[...table.matchAll(bareCell)].map((m) => `|${(m[1] ?? '').replace(/\s/g, '')}|`),
]
const squash = (text: string) => text.replace(/\s/g, '')

describe('the benchmarks page', () => {
  const en = benchTables(readPage('benchmarks.md'))
  const ja = benchTables(readPage('ja/benchmarks.md'))

  it('has the same bench tables, with the same numbers, in both languages', () => {
    expect([...ja.keys()]).toEqual([...en.keys()])
    for (const [name, table] of en) expect(numbersOf(ja.get(name) ?? ''), name).toEqual(numbersOf(table))
    expect(en.size).toBeGreaterThanOrEqual(7)
  })

  it('shows only numbers recorded in the package READMEs, never estimates', () => {
    const invented: string[] = []
    for (const [name, table] of en) {
      const pkg = Object.keys(readmes).find((key) => name.startsWith(`${key}-`))
      expect(pkg, `bench:${name} names no package`).toBeDefined()
      const file = readmes[pkg as string] as string
      const readme = existsSync(file) ? squash(readFileSync(file, 'utf8')) : ''
      for (const number of numbersOf(table)) {
        // A bare number is found as a README table cell (`|181|`) or in bold prose (`**50**`).
        const bold = number.startsWith('|') ? `**${number.slice(1, -1)}**` : undefined
        if (!readme.includes(number) && !(bold && readme.includes(bold))) invented.push(`${name}: ${number}`)
      }
    }
    expect(invented).toEqual([])
  })
})

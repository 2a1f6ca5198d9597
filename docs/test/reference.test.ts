import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { codeSpan, docsRoot, markedTable, readPage } from './markdown.ts'
import { readExportedObject, readExportedStringArray, typeAndDefault } from './source.ts'

const packages = join(docsRoot, '..', 'packages')
const languages = ['English', 'Japanese'] as const
const label = (lang: string) => lang
/** The page in that language: `reference/rds.md` or `ja/reference/rds.md`. */
const inLanguage = (lang: string, page: string) => (lang === 'English' ? page : `ja/${page}`)

/** `60_000` → `60000`; the JSDoc says the value the way a reader types it. */
const normalize = (value: string) =>
  value
    .replace(/\s+/g, ' ')
    .replace(/(\d)_(\d)/g, '$1$2')
    .trim()
/** A code span from a table cell, with the `\|` that markdown tables need turned back into `|`. */
const cellCode = (cell: string | undefined) => codeSpan(cell)?.replace(/\\\|/g, '|')

const middlewares = [
  { pkg: 'kms-env', codes: 'kmsEnvErrorCodes' },
  { pkg: 'rds', codes: 'rdsErrorCodes' },
] as const

describe.each(middlewares)('the reference of @rdskit/$pkg', ({ pkg, codes }) => {
  const defaultsFile = join(packages, pkg, 'src', 'defaults.ts')
  const errorsFile = join(packages, pkg, 'src', 'errors.ts')
  const options = readExportedObject(defaultsFile, 'defaults')
  const errorCodes = readExportedObject(errorsFile, codes)

  it('reads a defaults object and error codes from the source', () => {
    expect(options.length).toBeGreaterThan(5)
    expect(errorCodes.length).toBeGreaterThan(3)
  })

  it('finds a JSDoc comment opening with the type and the default on every option in the source', () => {
    const undocumented = options.filter((option) => !typeAndDefault(option.doc).type).map((o) => o.name)
    expect(
      undocumented,
      `options of ${defaultsFile} without a "\`type\`, default \`value\`" comment`,
    ).toEqual([])
  })

  it('finds that each JSDoc default matches the value the code actually uses', () => {
    const literal = /^(-?[\d_.]+|'[^']*'|"[^"]*"|true|false|undefined|null|\{\}|\[\]|[A-Za-z_$][\w$]*)$/
    const drift = options
      .filter((option) => literal.test(option.initializer))
      .filter((option) => {
        const documented = typeAndDefault(option.doc).default
        return documented !== undefined && normalize(documented) !== normalize(option.initializer)
      })
      .map(
        (option) =>
          `${option.name}: code ${option.initializer}, comment ${typeAndDefault(option.doc).default}`,
      )
    expect(drift).toEqual([])
  })

  it.each(languages)('lists every option in the code, and no other, in the %s reference page', (lang) => {
    const rows = markedTable(readPage(inLanguage(lang, `reference/${pkg}.md`)), 'options')
    expect(
      rows.map((row) => cellCode(row[0])),
      `${label(lang)} reference/${pkg}.md`,
    ).toEqual(options.map((option) => option.name))
  })

  it.each(languages)('gives the type and default of the source for each option in the %s page', (lang) => {
    const rows = markedTable(readPage(inLanguage(lang, `reference/${pkg}.md`)), 'options')
    const wrong: string[] = []
    for (const option of options) {
      const row = rows.find((r) => cellCode(r[0]) === option.name)
      const documented = typeAndDefault(option.doc)
      if (!row) continue
      if (cellCode(row[1]) !== documented.type)
        wrong.push(`${option.name} type: ${cellCode(row[1])} ≠ ${documented.type}`)
      if (
        documented.default !== undefined &&
        normalize(cellCode(row[2]) ?? '') !== normalize(documented.default)
      ) {
        wrong.push(`${option.name} default: ${cellCode(row[2])} ≠ ${documented.default}`)
      }
      if (!row.at(-1) || (row.at(-1)?.length ?? 0) < 10) wrong.push(`${option.name}: no effect described`)
    }
    expect(wrong, `${label(lang)} reference/${pkg}.md`).toEqual([])
  })

  it.each(languages)('lists every error code in the code, and no other, in the %s reference page', (lang) => {
    const rows = markedTable(readPage(inLanguage(lang, `reference/${pkg}.md`)), 'error-codes')
    expect(
      rows.map((row) => cellCode(row[0])),
      `${label(lang)} reference/${pkg}.md`,
    ).toEqual(errorCodes.map((code) => code.name))
    expect(rows.every((row) => (row[1]?.length ?? 0) > 10)).toBe(true)
  })
})

describe('the reference of decryptEnv', () => {
  const allowed = readExportedStringArray(
    join(packages, 'kms-env', 'src', 'options.ts'),
    'decryptEnvOptionNames',
  )

  it.each(languages)('marks exactly the options decryptEnv accepts in the %s page', (lang) => {
    const rows = markedTable(readPage(inLanguage(lang, `reference/kms-env.md`)), 'options')
    const marked = rows.filter((row) => row[3] === '✓').map((row) => cellCode(row[0]))
    expect(marked).toEqual(allowed)
  })
})

interface FlagSpec {
  value?: string
  short?: string
  required?: boolean
}
interface CliSpec {
  commands: Record<string, { flags: Record<string, FlagSpec> }>
  globalFlags: Record<string, FlagSpec>
  exitCodes: Record<string, string>
}

describe('the reference of the rdskit-kms CLI', async () => {
  // The spec is plain data (shared flag objects included), so it is imported rather than parsed.
  const specFile = join(packages, 'kms-env', 'src', 'cli-spec.ts')
  const { cliSpec: spec } = (await import(specFile)) as { cliSpec: CliSpec }
  const commands = Object.keys(spec.commands)

  it('reads the commands from the CLI spec', () => {
    expect(commands).toContain('encrypt')
    expect(commands).toContain('check')
  })

  it.each(languages)(
    'has a table of each command with exactly its flags, values and required marks (%s)',
    (lang) => {
      const page = readPage(inLanguage(lang, `reference/cli.md`))
      for (const command of commands) {
        const rows = markedTable(page, `cli-${command}`)
        const flags = Object.entries(spec.commands[command]?.flags ?? {})
        expect(
          rows.map((row) => cellCode(row[0])),
          `${label(lang)} cli.md, ${command}`,
        ).toEqual(flags.map(([flag]) => `--${flag}`))
        for (const [flag, flagSpec] of flags) {
          const row = rows.find((r) => cellCode(r[0]) === `--${flag}`)
          expect(cellCode(row?.[1]), `${command} --${flag} value`).toBe(flagSpec.value)
          expect(row?.[2], `${command} --${flag} required`).toBe(flagSpec.required ? '✓' : '—')
        }
      }
    },
  )

  it.each(languages)('lists the global flags and their short forms (%s)', (lang) => {
    const rows = markedTable(readPage(inLanguage(lang, `reference/cli.md`)), 'cli-global')
    const flags = Object.entries(spec.globalFlags)
    expect(rows.map((row) => cellCode(row[0]))).toEqual(flags.map(([flag]) => `--${flag}`))
    for (const [flag, flagSpec] of flags) {
      const row = rows.find((r) => cellCode(r[0]) === `--${flag}`)
      expect(cellCode(row?.[1])).toBe(flagSpec.short ? `-${flagSpec.short}` : undefined)
    }
  })

  it.each(languages)('lists every exit code (%s)', (lang) => {
    const rows = markedTable(readPage(inLanguage(lang, `reference/cli.md`)), 'cli-exit-codes')
    expect(rows.map((row) => cellCode(row[0]))).toEqual(Object.keys(spec.exitCodes))
  })
})

import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

export const docsRoot = new URL('..', import.meta.url).pathname.replace(/\/$/, '')

/** Every page of the site, as paths relative to docs/ (`guide/why.md`, `ja/guide/why.md`, …). */
export function listPages(): string[] {
  const pages: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (
        entry.name.startsWith('.') ||
        ['node_modules', 'public', 'test', 'test-results'].includes(entry.name)
      )
        continue
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.md') && entry.name !== 'README.md') pages.push(relative(docsRoot, path))
    }
  }
  walk(docsRoot)
  return pages.sort()
}

export const readPage = (page: string) => readFileSync(join(docsRoot, page), 'utf8')

export interface Fence {
  lang: string
  meta: string
  code: string
  line: number
}

/** The fenced code blocks of a markdown page, with the language and the rest of the info string. */
export function fences(markdown: string): Fence[] {
  const out: Fence[] = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/.exec(lines[i] ?? '')
    if (!open) continue
    const [, indent = '', marker = '```', lang = '', meta = ''] = open
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const line = lines[j] ?? ''
      const trimmed = line.trim()
      if (trimmed.length >= marker.length && /^(`+|~+)$/.test(trimmed) && trimmed[0] === marker[0]) break
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line)
    }
    out.push({ lang, meta: meta.trim(), code: body.join('\n'), line: i + 1 })
    i = j
  }
  return out
}

/**
 * The rows of the markdown table between `<!-- name:start -->` and `<!-- name:end -->`: the sections the
 * reference test compares with the source. Cells are trimmed; the header and separator rows are dropped.
 */
export function markedTable(markdown: string, name: string): string[][] {
  const start = markdown.indexOf(`<!-- ${name}:start -->`)
  const end = markdown.indexOf(`<!-- ${name}:end -->`)
  if (start < 0 || end < start) throw new Error(`no <!-- ${name}:start --> … <!-- ${name}:end --> section`)
  const rows = markdown
    .slice(start, end)
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    )
  return rows.slice(2)
}

/** `` `name` `` → `name`: the first code span of a cell. */
export const codeSpan = (cell: string | undefined) => /`([^`]+)`/.exec(cell ?? '')?.[1]

import { isReadOnly } from '../read-only.ts'

/** What the events and the adapters show of a statement. */
export interface StatementShape {
  statement: string
  operation: string
  summary: string
  readOnly: boolean
}

/**
 * One pass over the text. Kept as they are: quoted identifiers and `$n` placeholders. Replaced by `?`:
 * string literals (standard, E'', dollar-quoted, also when cut off unterminated) and numbers. Removed:
 * comments (they can hold anything).
 */
const tokens =
  /("(?:[^"]|"")*")|(\$\d+)|(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|([eE]'(?:[^'\\]|\\[\s\S]|'')*(?:'|$)|'(?:[^']|'')*(?:'|$)|\$([A-Za-z_]\w*)?\$[\s\S]*?(?:\$\5\$|$)|\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b|\B\.\d+\b)/g

/** Longest statement text an event carries (X-Ray documents are capped at 64 KB; logs should stay readable). */
export const maxStatementLength = 2048

/** Literals out, placeholders kept, whitespace collapsed: what X-Ray calls `sanitized_query`. */
export function sanitizeSql(text: string): string {
  const sanitized = text
    .replace(tokens, (match, ident, placeholder, comment) =>
      ident || placeholder ? match : comment ? ' ' : '?',
    )
    .replace(/\s+/g, ' ')
    .trim()
  return sanitized.length > maxStatementLength ? `${sanitized.slice(0, maxStatementLength - 1)}…` : sanitized
}

const firstWord = /^\s*\(*\s*([A-Za-z]+)/
const target =
  /\b(?:from|into|update|join)\s+((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\.(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)/i

/** `SELECT`, or `SELECT notes` when a table follows FROM/INTO/UPDATE/JOIN (quotes dropped). */
function summarize(operation: string, sanitized: string): string {
  const table = target.exec(sanitized)?.[1]?.replace(/"/g, '')
  return table ? `${operation} ${table}` : operation
}

const shapes = new Map<string, StatementShape>()
/** Lambda runs the same few statements again and again: each is sanitised once. */
const maxShapes = 500

/** The sanitised text, operation, summary and read-only flag of a statement, memoised by its text. */
export function shapeOf(text: string): StatementShape {
  const known = shapes.get(text)
  if (known) return known
  const statement = sanitizeSql(text)
  const operation = firstWord.exec(statement)?.[1]?.toUpperCase() ?? 'UNKNOWN'
  const shape = { statement, operation, summary: summarize(operation, statement), readOnly: isReadOnly(text) }
  if (shapes.size >= maxShapes) shapes.clear()
  shapes.set(text, shape)
  return shape
}

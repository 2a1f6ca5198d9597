import { ProblemError } from '../http/problem.ts'
import type { Precondition } from './repository.ts'

/** Strong ETag of a note: its version, quoted. */
export const etagOf = (version: number): string => `"${version}"`

const ifMatchPattern = /^"(\d{1,9})"$/

/**
 * `If-Match: "3"` → version 3; `*` → any existing note; absent → undefined. Anything else (a weak tag,
 * a list, a bare number) is rejected naming the header, because guessing would defeat the check.
 */
export const parseIfMatch = (header: string | undefined): Precondition | undefined => {
  if (header === undefined) return undefined
  const value = header.trim()
  if (value === '*') return { kind: 'any' }
  const match = ifMatchPattern.exec(value)
  if (!match?.[1]) {
    throw new ProblemError(
      400,
      'bad-request',
      'Bad request',
      'If-Match must be the ETag of the note, e.g. "3".',
      {
        errors: [
          { field: 'header.if-match', detail: 'must be a quoted version such as "3" (the ETag), or *' },
        ],
      },
    )
  }
  return { kind: 'version', version: Number(match[1]) }
}

export const preconditionRequired = () =>
  new ProblemError(
    428,
    'precondition-required',
    'Precondition required',
    'Send If-Match with the ETag from your last read so concurrent edits are not lost.',
    { errors: [{ field: 'header.if-match', detail: 'is required; use the ETag of the note, e.g. "3"' }] },
  )

export const versionMismatch = (current: number) =>
  new ProblemError(
    412,
    'precondition-failed',
    'Precondition failed',
    `The note has changed since you read it (current version ${current}); fetch it again and retry.`,
    {
      errors: [{ field: 'header.if-match', detail: `does not match the current ETag ${etagOf(current)}` }],
      headers: { ETag: etagOf(current) },
    },
  )

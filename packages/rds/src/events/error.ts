import { codeOf, sqlstateOf } from '../classify.ts'
import { findRdsError } from '../errors.ts'
import type { EventError } from './types.ts'

/**
 * The safe summary of a failure for an event. A driver's message can quote a value ("invalid input syntax
 * for type integer: \"…\""), and its error object holds the query parameters: only rdskit's own messages
 * are kept; of the rest, the class name and codes.
 */
export function describeFailure(error: unknown): EventError {
  const rds = findRdsError(error)
  if (rds) {
    return {
      name: rds.name,
      code: rds.code,
      ...(rds.sqlstate ? { sqlstate: rds.sqlstate } : {}),
      message: rds.message,
      retryable: rds.retryable,
    }
  }
  const failure = error as { name?: unknown; cause?: unknown } | undefined
  // drizzle wraps driver errors in DrizzleQueryError (its message lists the parameters): describe the cause.
  const inner = failure?.name === 'DrizzleQueryError' && failure.cause ? failure.cause : error
  const name = (inner as { name?: unknown } | undefined)?.name
  const code = codeOf(inner)
  const sqlstate = sqlstateOf(inner)
  return {
    name: typeof name === 'string' ? name : 'Error',
    ...(code ? { code } : {}),
    ...(sqlstate ? { sqlstate } : {}),
  }
}

import { RdsError } from '@rdskit/rds'
import { findInChain } from './cause-chain.ts'
import { ProblemError } from './problem.ts'

/** Seconds a client should wait before retrying a 503. */
export const retryAfterSeconds = '1'

const unavailable = (slug: string, title: string, detail: string, cause: unknown) =>
  new ProblemError(503, slug, title, detail, { headers: { 'Retry-After': retryAfterSeconds }, cause })

/**
 * rds raises CONNECTION_LOST with `retryable: false` when the connection died under a statement it will not
 * re-run, a write: it reached the server or not, committed or not, and nobody can tell. Only the client can
 * resolve it, by sending the same request again with the same Idempotency-Key.
 */
const isCutOffWrite = (e: Record<string, unknown>): e is RdsError & Record<string, unknown> =>
  e instanceof RdsError && e.code === 'CONNECTION_LOST' && !e.retryable

const isExhaustion = (e: Record<string, unknown>): e is { code: string } =>
  e.code === 'TOO_MANY_CONNECTIONS' || e.code === '53300'

/**
 * The 503 answers: a database (or another dependency) that may work again shortly. Undefined for any other
 * error. Details are fixed sentences: no host, SQL, SQLSTATE, parameter or secret reaches the client (the
 * log line of the request carries the error chain).
 */
export const unavailableProblem = (error: unknown): ProblemError | undefined => {
  if (findInChain(error, isCutOffWrite)) {
    return unavailable(
      'write-outcome-unknown',
      'Write outcome unknown',
      'The connection to the database was lost while the write was in flight, so it may or may not have been applied. ' +
        'Retry the same request with the same Idempotency-Key: if it was applied you get the original answer, if not it is applied once.',
      error,
    )
  }
  // Exhaustion (RdsError TOO_MANY_CONNECTIONS or a bare SQLSTATE 53300).
  if (findInChain(error, isExhaustion)) {
    return unavailable(
      'service-unavailable',
      'Service unavailable',
      'The database is at its connection limit; retry after the delay in Retry-After.',
      error,
    )
  }
  // Anything the rds / kms-env middlewares mark retryable (a restart, failover, connect or statement timeout
  // inside the Lambda budget, KMS throttling), and Middy's own timeout.
  const e = error as { name?: unknown } | undefined
  if (
    findInChain(error, (x): x is { retryable: true } => x.retryable === true) ||
    e?.name === 'TimeoutError'
  ) {
    return unavailable(
      'service-unavailable',
      'Service unavailable',
      'A dependency is temporarily unavailable; retry after the delay in Retry-After.',
      error,
    )
  }
  return undefined
}

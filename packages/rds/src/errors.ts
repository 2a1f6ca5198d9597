/**
 * Every `RdsError.code`, with its one-line meaning. Stable strings: match on them, never on `message`.
 * The hint on each error says what to change.
 */
export const rdsErrorCodes = {
  TOO_MANY_CONNECTIONS:
    'The server refused a new connection with SQLSTATE 53300 after backing off within the time budget; retry later (HTTP 503).',
  AUTH_FAILED:
    'The server rejected the credential (SQLSTATE 28P01) even after one refresh of it; the password, token or role is wrong.',
  CONNECTION_REJECTED:
    'pg_hba.conf or the pooler rejected the connection (SQLSTATE 28000), e.g. a non-TLS attempt to a TLS-only server.',
  DATABASE_NOT_FOUND: 'The database named in config.database does not exist (SQLSTATE 3D000).',
  CONNECT_FAILED:
    'No connection could be opened (refused, unreachable, DNS failure, server starting up) within the time budget.',
  CONNECT_TIMEOUT:
    'Opening the connection took longer than connect_timeout or the remaining invocation time.',
  TIMEOUT:
    'A statement ran past the invocation budget: cancelled by statement_timeout (SQLSTATE 57014) or by the client deadline.',
  READ_ONLY:
    'The writer endpoint led only to read-only sessions (a standby, SQLSTATE 25006) within the time budget: a failover is under way; retry (HTTP 503).',
  CONNECTION_LOST:
    'The connection dropped while a statement was in flight; it was not re-run because it may have been applied.',
  TLS_CERT_UNTRUSTED: 'The server certificate does not chain to a trusted CA (wrong or missing `tls.ca`).',
  TLS_CERT_EXPIRED: 'The server certificate is expired or not yet valid.',
  TLS_HOSTNAME_MISMATCH: 'The server certificate is valid but not for the host name connected to.',
  TLS_NOT_SUPPORTED: 'The server answered the TLS request with "no TLS here"; it is not configured for TLS.',
  POOLER_INCOMPATIBLE:
    'A transaction pooler (RDS Proxy, PgBouncer) rejected a session feature: set `pooler: true` (SQLSTATE 08P01, 26000, 42P05).',
  CREDENTIALS_MISSING: 'A config field named in `internalData` resolved to nothing in `request.internal`.',
  CLIENT_CLOSED:
    'The client was closed with close() or replaced by a rebuilt one while the statement was queued.',
  INVALID_OPTION:
    'An option passed to rds() or migrate() is missing, of the wrong type or contradicts another.',
  MIGRATION_FAILED:
    'A migration statement failed; the migration transaction was rolled back and the lock released.',
} as const

export type RdsErrorCode = keyof typeof rdsErrorCodes

export interface RdsErrorOptions {
  /** SQLSTATE of the server error behind this one, when there is one. */
  sqlstate?: string | undefined
  /** Whether repeating the whole operation later may succeed (map to HTTP 503 + Retry-After). */
  retryable?: boolean
  /** What to change, in one or two sentences. */
  hint?: string
  cause?: unknown
}

/**
 * The error @rdskit/rds raises. Messages name the option, host, user or SQLSTATE involved, never a
 * password or token; `cause` is the driver error with any secret-bearing fields removed.
 */
export class RdsError extends Error {
  override readonly name = 'RdsError'
  readonly code: RdsErrorCode
  readonly sqlstate: string | undefined
  readonly retryable: boolean
  readonly hint: string

  constructor(code: RdsErrorCode, message: string, options: RdsErrorOptions = {}) {
    super(options.hint ? `${message}. Hint: ${options.hint}` : message, { cause: options.cause })
    this.code = code
    this.sqlstate = options.sqlstate
    this.retryable = options.retryable ?? false
    this.hint = options.hint ?? ''
  }
}

/** True for an RdsError anywhere in the `cause` chain (drizzle wraps driver errors in DrizzleQueryError). */
export function findRdsError(error: unknown): RdsError | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 5 && current; depth++) {
    if (current instanceof RdsError) return current
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

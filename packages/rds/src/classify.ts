import { RdsError, type RdsErrorCode } from './errors.ts'

/** What the caller knows about where the error happened; used to name things in the message and hint. */
export interface ErrorScene {
  host: string
  port: number
  user: string
  database: string
  pooler: boolean
}

interface Failure {
  code?: unknown
  errno?: unknown
  /** Set by the socket factory on errors raised before the session was ready: no statement was sent. */
  rdsConnectPhase?: boolean
  /**
   * Set by the socket factory when the server had ended the session (FATAL, FIN or reset seen while no request
   * was pending) before the failed statements were written: no backend read them.
   */
  rdsNotSent?: boolean
  /** Set by the socket factory on every error one of rds's own database sockets raised. */
  rdsSocket?: boolean
  /** Set on a FATAL the server sent once the password exchange had begun (the socket read the request). */
  rdsAuthPhase?: boolean
  name?: unknown
}

/** SQLSTATEs a server only sends during the startup handshake, before any statement is accepted. */
const connectOnlySqlstates = new Set(['53300', '28P01', '28000', '3D000', '57P03', '08004', '08P01'])

const connectFailedCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
])

const lostCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'ERR_STREAM_DESTROYED',
  'ERR_SOCKET_CLOSED',
])

const untrustedCodes = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
])

/** Server-side session ends: admin_shutdown, crash_shutdown, idle_session_timeout, idle_in_transaction timeout. */
const sessionEndSqlstates = new Set(['57P01', '57P02', '57P05', '25P03'])

export function codeOf(error: unknown): string | undefined {
  const code = (error as Failure | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * A SQLSTATE is five characters of digits and upper-case letters, at least one a digit (every class has one);
 * Node and postgres.js codes are longer, or all letters (EPIPE).
 */
export function sqlstateOf(error: unknown): string | undefined {
  const code = codeOf(error)
  return code && /^[0-9A-Z]{5}$/.test(code) && /\d/.test(code) ? code : undefined
}

/** True when the failure happened before any statement reached the server, so re-sending is always safe. */
export function failedBeforeSend(error: unknown): boolean {
  const failure = error as Failure | undefined
  if (failure?.rdsConnectPhase || failure?.rdsNotSent) return true
  const code = codeOf(error)
  if (code === 'CONNECT_TIMEOUT' || (code && connectFailedCodes.has(code))) return true
  const sqlstate = sqlstateOf(error)
  return sqlstate !== undefined && connectOnlySqlstates.has(sqlstate)
}

/**
 * True for errors that came from the database or its connection: a server error (postgres.js's
 * PostgresError, with a SQLSTATE), a postgres.js connection error (CONNECTION_*), or an error one of rds's
 * sockets raised. A handler's other I/O fails with the same Node codes (a fetch refused, a KMS timeout's
 * ETIMEDOUT): those are not the database's and must not be reported as if they were.
 */
export function fromDatabase(error: unknown): boolean {
  const failure = error as Failure | undefined
  if (!failure || typeof failure !== 'object') return false
  if (failure.rdsSocket || failure.rdsConnectPhase || failure.rdsNotSent) return true
  if (failure.name === 'PostgresError') return true
  const code = codeOf(error)
  return code !== undefined && (code.startsWith('CONNECTION_') || code === 'CONNECT_TIMEOUT')
}

/** A failure the server sent once the password exchange of a new connection had begun. */
export const isAuthPhase = (error: unknown): boolean => (error as Failure | undefined)?.rdsAuthPhase === true

/** The connection died under a statement (or between statements): the session is gone. */
export function isConnectionLoss(error: unknown): boolean {
  const code = codeOf(error)
  if (!code) return false
  if (lostCodes.has(code)) return true
  if (sessionEndSqlstates.has(code)) return true
  return code.startsWith('08') && code.length === 5 && code !== '08P01'
}

const where = (scene: ErrorScene) => `${scene.host}:${scene.port}`

/**
 * Maps a driver, socket or TLS error to an RdsError by SQLSTATE or Node error code (never by message
 * text). Returns undefined for application errors (unique violations, syntax errors…), which the caller
 * should see unchanged.
 */
export function classify(error: unknown, scene: ErrorScene): RdsError | undefined {
  if (error instanceof RdsError) return error
  const code = codeOf(error)
  if (!code) return undefined
  const make = (rdsCode: RdsErrorCode, message: string, retryable: boolean, hint: string) =>
    new RdsError(rdsCode, message, { sqlstate: sqlstateOf(error), retryable, hint, cause: error })
  const at = where(scene)
  // Without a pooler, 08P01 in the password exchange is a handshake broken by a restart, not a session feature.
  if (code === '08P01' && !scene.pooler && isAuthPhase(error)) {
    return make(
      'CONNECT_FAILED',
      `PostgreSQL at ${at} reported a protocol violation during the startup exchange (SQLSTATE 08P01)`,
      true,
      'the connection broke or desynchronised while the server was restarting: retry; behind RDS Proxy or PgBouncer set pooler: true',
    )
  }
  switch (code) {
    case '53300':
      return make(
        'TOO_MANY_CONNECTIONS',
        `PostgreSQL at ${at} has no free connection slot (SQLSTATE 53300)`,
        true,
        'each Lambda container holds its own connections: put RDS Proxy or PgBouncer in front (and set pooler: true), lower reserved concurrency, or raise max_connections',
      )
    case '28P01':
      return make(
        'AUTH_FAILED',
        `PostgreSQL at ${at} rejected the credential of user "${scene.user}" (SQLSTATE 28P01)`,
        false,
        'check the password or IAM token source; after a rotation the new secret must be what internalData resolves to',
      )
    case '28000':
      return make(
        'CONNECTION_REJECTED',
        `PostgreSQL at ${at} rejected the connection of user "${scene.user}" to database "${scene.database}" (SQLSTATE 28000)`,
        false,
        'pg_hba.conf has no entry for this client: servers with rds.force_ssl accept only TLS connections (do not set tls: false); IAM-only roles (rds_iam) need iamAuth',
      )
    case '3D000':
      return make(
        'DATABASE_NOT_FOUND',
        `database "${scene.database}" does not exist on ${at} (SQLSTATE 3D000)`,
        false,
        'check config.database (or the internalData key that provides it)',
      )
    case '57014':
      return make(
        'TIMEOUT',
        'the statement was cancelled by statement_timeout before the invocation ran out of time (SQLSTATE 57014)',
        true,
        'the statement needs more time than the invocation has left: add an index, page the work, or raise the Lambda timeout',
      )
    case '57P03':
      return make(
        'CONNECT_FAILED',
        `PostgreSQL at ${at} is starting up or in recovery and cannot accept connections yet (SQLSTATE 57P03)`,
        true,
        'retry shortly: the server (or Aurora Serverless resume) was not ready within the remaining time',
      )
    case '25006':
    case 'READ_ONLY_SESSION':
      return make(
        'READ_ONLY',
        code === '25006'
          ? `PostgreSQL at ${at} refused the statement in a read-only transaction (SQLSTATE 25006)`
          : `the writer endpoint ${at} opened only read-only sessions (in_hot_standby = on)`,
        true,
        'a failover is under way and the endpoint still names a standby: retry shortly (rds reopens the session on the writer within each invocation; a statement inside db.transaction() is not re-run: re-run the transaction)',
      )
    case '08P01':
    case '26000':
    case '42P05':
      return make(
        'POOLER_INCOMPATIBLE',
        `the server or pooler at ${at} rejected a session feature (SQLSTATE ${code})`,
        false,
        scene.pooler
          ? 'the pooler refused a startup parameter or prepared statement even with pooler: true; check its ignore_startup_parameters and max_prepared_statements'
          : 'behind RDS Proxy or PgBouncer in transaction mode set pooler: true (no named prepared statements, no session startup parameters)',
      )
    case 'CONNECT_TIMEOUT':
      return make(
        'CONNECT_TIMEOUT',
        `connecting to ${at} did not finish within the connect timeout or the remaining invocation time`,
        true,
        'the server may be resuming (Aurora Serverless v2 takes ~15 s from zero) or unreachable from this subnet: check security groups and the Lambda timeout',
      )
    case 'CONNECTION_ENDED':
      return make(
        'CLIENT_CLOSED',
        `the client for ${at} was closed before this statement ran`,
        true,
        'do not call close() while invocations are in flight',
      )
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return make(
        'TLS_HOSTNAME_MISMATCH',
        `the TLS certificate presented by ${at} is not valid for host "${scene.host}"`,
        false,
        'connect with the endpoint name the certificate was issued for (the RDS/Proxy endpoint, not an IP or CNAME); when tunnelling, set tls.servername to that endpoint; verification is never skipped',
      )
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return make(
        'TLS_CERT_EXPIRED',
        `the TLS certificate presented by ${at} is outside its validity period (${code})`,
        false,
        'rotate the server certificate (RDS: modify the instance to a current CA) or fix the clock',
      )
    case 'TLS_NOT_SUPPORTED':
      return make(
        'TLS_NOT_SUPPORTED',
        `the server at ${at} does not accept TLS connections`,
        false,
        'enable ssl on the server, or (only on a trusted network) set tls: false explicitly',
      )
  }
  if (untrustedCodes.has(code)) {
    return make(
      'TLS_CERT_UNTRUSTED',
      `the TLS certificate presented by ${at} is not signed by a trusted CA (${code})`,
      false,
      'pass the CA bundle as tls: { ca } (RDS: https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); in Lambda the runtime bundle /var/runtime/ca-cert.pem is used by default',
    )
  }
  if (connectFailedCodes.has(code)) {
    return make(
      'CONNECT_FAILED',
      `could not open a connection to ${at} (${code})`,
      true,
      'check the host name, port, security groups and that the function runs in the database VPC',
    )
  }
  if (isConnectionLoss(error) && failedBeforeSend(error)) {
    const sqlstate = sqlstateOf(error) ?? (error as { rdsSqlstate?: string }).rdsSqlstate
    return make(
      'CONNECT_FAILED',
      `the connection to ${at} closed during its startup (${sqlstate ? `SQLSTATE ${sqlstate}` : code}), before any statement was sent`,
      true,
      'the server is restarting, failing over or shedding connections: retry shortly',
    )
  }
  if (isConnectionLoss(error)) {
    return make(
      'CONNECTION_LOST',
      `the connection to ${at} was lost (${code})`,
      false,
      'the statement may or may not have been applied, so it was not re-run: make it idempotent before retrying',
    )
  }
  return undefined
}

import { describe, expect, it } from 'vitest'
import {
  classify,
  codeOf,
  failedBeforeSend,
  fromDatabase,
  isConnectionLoss,
  sqlstateOf,
} from '../../src/classify.ts'

const scene = { host: 'db.example', port: 6432, user: 'app', database: 'notes', pooler: false }
const failure = (code: unknown, extra: object = {}) =>
  Object.assign(new Error('English text is never read'), { code, ...extra })

describe('codeOf and sqlstateOf', () => {
  it('read a string code only, and a SQLSTATE only when it has five digits or capitals', () => {
    expect(codeOf(failure('ECONNRESET'))).toBe('ECONNRESET')
    expect(codeOf(failure(42))).toBeUndefined()
    expect(codeOf(undefined)).toBeUndefined()
    expect(sqlstateOf(failure('53300'))).toBe('53300')
    expect(sqlstateOf(failure('08P01'))).toBe('08P01')
    for (const code of ['ECONNRESET', '5330', '533000', 'abcde', 'x53300', '53300x']) {
      expect(sqlstateOf(failure(code)), code).toBeUndefined()
    }
  })
})

describe('failedBeforeSend: nothing reached the server, so re-sending is always safe', () => {
  it.each([
    'CONNECT_TIMEOUT',
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EHOSTDOWN',
    'ENETDOWN',
    '53300',
    '28P01',
    '28000',
    '3D000',
    '57P03',
    '08004',
    '08P01',
  ])('%s happens before any statement is sent', (code) => {
    expect(failedBeforeSend(failure(code))).toBe(true)
  })

  it.each(['ECONNRESET', 'EPIPE', 'CONNECTION_CLOSED', '57P01', '08006', '23505', '57014'])(
    '%s may come after a statement was sent',
    (code) => {
      expect(failedBeforeSend(failure(code))).toBe(false)
    },
  )

  it('trusts the socket factory’s marks, and knows nothing of an error without a code', () => {
    expect(failedBeforeSend(failure('ECONNRESET', { rdsConnectPhase: true }))).toBe(true)
    expect(failedBeforeSend(failure('ECONNRESET', { rdsNotSent: true }))).toBe(true)
    expect(failedBeforeSend(new Error('no code'))).toBe(false)
    expect(failedBeforeSend(undefined)).toBe(false)
  })
})

describe('isConnectionLoss: the session is gone', () => {
  it.each([
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    'ECONNABORTED',
    'CONNECTION_CLOSED',
    'CONNECTION_DESTROYED',
    'ERR_STREAM_DESTROYED',
    'ERR_SOCKET_CLOSED',
    '57P01',
    '57P02',
    '57P05',
    '25P03',
    '08000',
    '08003',
    '08006',
  ])('%s is a lost connection', (code) => {
    expect(isConnectionLoss(failure(code))).toBe(true)
    expect(classify(failure(code), scene)).toMatchObject({ code: 'CONNECTION_LOST', retryable: false })
  })

  it.each(['08P01', '0800', '080000', '23505', '57014', '57P03', 'ECONNREFUSED'])('%s is not', (code) => {
    expect(isConnectionLoss(failure(code))).toBe(false)
  })

  it('needs a code', () => {
    expect(isConnectionLoss(new Error('connection reset'))).toBe(false)
  })
})

describe('fromDatabase', () => {
  it('trusts each of the socket factory’s marks alone', () => {
    for (const mark of ['rdsSocket', 'rdsConnectPhase', 'rdsNotSent']) {
      expect(fromDatabase(failure('ETIMEDOUT', { [mark]: true })), mark).toBe(true)
    }
    expect(fromDatabase(failure('CONNECTION_ENDED'))).toBe(true)
    expect(fromDatabase(failure('XCONNECTION_CLOSED'))).toBe(false)
    expect(fromDatabase(new Error('no code'))).toBe(false)
    expect(fromDatabase(null)).toBe(false)
  })
})

describe('classify: the message names the host, user or database; the hint says what to change', () => {
  it.each([
    [
      '53300',
      'TOO_MANY_CONNECTIONS',
      true,
      /^PostgreSQL at db\.example:6432 has no free connection slot \(SQLSTATE 53300\)/,
      /put RDS Proxy or PgBouncer in front/,
    ],
    [
      '28P01',
      'AUTH_FAILED',
      false,
      /^PostgreSQL at db\.example:6432 rejected the credential of user "app" \(SQLSTATE 28P01\)/,
      /after a rotation the new secret/,
    ],
    [
      '28000',
      'CONNECTION_REJECTED',
      false,
      /rejected the connection of user "app" to database "notes" \(SQLSTATE 28000\)/,
      /pg_hba\.conf has no entry/,
    ],
    [
      '3D000',
      'DATABASE_NOT_FOUND',
      false,
      /^database "notes" does not exist on db\.example:6432 \(SQLSTATE 3D000\)/,
      /check config\.database/,
    ],
    [
      '57014',
      'TIMEOUT',
      true,
      /cancelled by statement_timeout before the invocation ran out of time \(SQLSTATE 57014\)/,
      /add an index/,
    ],
    [
      '57P03',
      'CONNECT_FAILED',
      true,
      /^PostgreSQL at db\.example:6432 is starting up or in recovery/,
      /retry shortly/,
    ],
    [
      '26000',
      'POOLER_INCOMPATIBLE',
      false,
      /^the server or pooler at db\.example:6432 rejected a session feature \(SQLSTATE 26000\)/,
      /set pooler: true/,
    ],
    ['42P05', 'POOLER_INCOMPATIBLE', false, /\(SQLSTATE 42P05\)/, /set pooler: true/],
    [
      'CONNECT_TIMEOUT',
      'CONNECT_TIMEOUT',
      true,
      /^connecting to db\.example:6432 did not finish within the connect timeout/,
      /Aurora Serverless v2 takes ~15 s/,
    ],
    [
      'CONNECTION_ENDED',
      'CLIENT_CLOSED',
      true,
      /^the client for db\.example:6432 was closed before this statement ran/,
      /do not call close\(\)/,
    ],
    [
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'TLS_HOSTNAME_MISMATCH',
      false,
      /is not valid for host "db\.example"/,
      /verification is never skipped/,
    ],
    [
      'CERT_HAS_EXPIRED',
      'TLS_CERT_EXPIRED',
      false,
      /outside its validity period \(CERT_HAS_EXPIRED\)/,
      /rotate the server certificate/,
    ],
    ['CERT_NOT_YET_VALID', 'TLS_CERT_EXPIRED', false, /\(CERT_NOT_YET_VALID\)/, /fix the clock/],
    [
      'TLS_NOT_SUPPORTED',
      'TLS_NOT_SUPPORTED',
      false,
      /^the server at db\.example:6432 does not accept TLS connections/,
      /enable ssl on the server/,
    ],
    [
      'EHOSTDOWN',
      'CONNECT_FAILED',
      true,
      /^could not open a connection to db\.example:6432 \(EHOSTDOWN\)/,
      /security groups/,
    ],
    [
      'ETIMEDOUT',
      'CONNECTION_LOST',
      false,
      /^the connection to db\.example:6432 was lost \(ETIMEDOUT\)/,
      /make it idempotent/,
    ],
  ])('%s → %s (retryable %s)', (code, rdsCode, retryable, message, hint) => {
    const cause = failure(code)
    const error = classify(cause, scene)
    expect(error).toMatchObject({ code: rdsCode, retryable, cause })
    expect(error?.message).toMatch(message)
    expect(error?.hint).toMatch(hint)
    expect(error?.message).toContain(`. Hint: ${error?.hint}`)
    expect(error?.sqlstate).toBe(/^[0-9A-Z]{5}$/.test(code) ? code : undefined)
  })

  it.each([
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_SIGNATURE_FAILURE',
    'CERT_UNTRUSTED',
    'CERT_REJECTED',
    'INVALID_CA',
  ])('%s → TLS_CERT_UNTRUSTED naming the host and the RDS bundle', (code) => {
    const error = classify(failure(code), scene)
    expect(error).toMatchObject({ code: 'TLS_CERT_UNTRUSTED', retryable: false })
    expect(error?.message).toMatch(
      new RegExp(
        `^the TLS certificate presented by db\\.example:6432 is not signed by a trusted CA \\(${code}\\)`,
      ),
    )
    expect(error?.hint).toMatch(/tls: \{ ca \}/)
  })

  it('tells a pooler that already has pooler: true to look at its own settings', () => {
    const hint = classify(failure('08P01'), { ...scene, pooler: true })?.hint
    expect(hint).toMatch(/even with pooler: true; check its ignore_startup_parameters/)
  })

  it('returns an RdsError as it is', async () => {
    const first = classify(failure('53300'), scene)
    expect(classify(first, scene)).toBe(first)
  })
})

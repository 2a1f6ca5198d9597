import { describe, expect, it } from 'vitest'
import { classify, failedBeforeSend, fromDatabase, isConnectionLoss } from '../../src/classify.ts'
import { RdsError, rdsErrorCodes } from '../../src/index.ts'
import { fullJitter } from '../../src/recovery.ts'

const scene = {
  host: 'db.cluster-abc.eu-west-1.rds.amazonaws.com',
  port: 5432,
  user: 'app',
  database: 'notes',
  pooler: false,
}
const failure = (code: string, extra: object = {}) =>
  Object.assign(new Error('English text is never read'), { code, ...extra })

describe('classify', () => {
  it.each([
    ['53300', 'TOO_MANY_CONNECTIONS', true],
    ['28P01', 'AUTH_FAILED', false],
    ['28000', 'CONNECTION_REJECTED', false],
    ['3D000', 'DATABASE_NOT_FOUND', false],
    ['57014', 'TIMEOUT', true],
    ['57P03', 'CONNECT_FAILED', true],
    ['57P01', 'CONNECTION_LOST', false],
    ['08006', 'CONNECTION_LOST', false],
    ['08P01', 'POOLER_INCOMPATIBLE', false],
    ['25006', 'READ_ONLY', true],
    ['READ_ONLY_SESSION', 'READ_ONLY', true],
    ['26000', 'POOLER_INCOMPATIBLE', false],
    ['ECONNREFUSED', 'CONNECT_FAILED', true],
    ['ENOTFOUND', 'CONNECT_FAILED', true],
    ['CONNECT_TIMEOUT', 'CONNECT_TIMEOUT', true],
    ['ECONNRESET', 'CONNECTION_LOST', false],
    ['CONNECTION_CLOSED', 'CONNECTION_LOST', false],
    ['CONNECTION_ENDED', 'CLIENT_CLOSED', true],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'TLS_HOSTNAME_MISMATCH', false],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'TLS_CERT_UNTRUSTED', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'TLS_CERT_UNTRUSTED', false],
    ['CERT_HAS_EXPIRED', 'TLS_CERT_EXPIRED', false],
    ['TLS_NOT_SUPPORTED', 'TLS_NOT_SUPPORTED', false],
  ])('maps %s to %s (retryable %s) by its code, with a hint and the cause', (code, expected, retryable) => {
    const cause = failure(code)
    const error = classify(cause, scene)
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: expected, retryable, cause })
    expect(error?.hint.length).toBeGreaterThan(10)
    expect(rdsErrorCodes[error?.code as keyof typeof rdsErrorCodes]).toBeDefined()
    if (/^[0-9A-Z]{5}$/.test(code)) {
      expect(error?.sqlstate).toBe(code)
      expect(error?.message).not.toContain('English text')
    }
  })

  it('reports an 08P01 of the password exchange as POOLER_INCOMPATIBLE only when a pooler is configured: without one it is a handshake broken by a restart', () => {
    const inAuth = failure('08P01', { rdsConnectPhase: true, rdsAuthPhase: true })
    expect(classify(inAuth, { ...scene, pooler: true })?.code).toBe('POOLER_INCOMPATIBLE')
    expect(classify(inAuth, scene)).toMatchObject({ code: 'CONNECT_FAILED', retryable: true })
  })

  it('reports a reset or a FATAL during the startup as CONNECT_FAILED (nothing was sent), with the SQLSTATE the socket read', () => {
    const reset = classify(failure('ECONNRESET', { rdsConnectPhase: true }), scene)
    expect(reset).toMatchObject({ code: 'CONNECT_FAILED', retryable: true })
    const goodbye = classify(
      failure('CONNECTION_CLOSED', { rdsConnectPhase: true, rdsSqlstate: '57P01' }),
      scene,
    )
    expect(goodbye?.message).toContain('SQLSTATE 57P01')
  })

  it('leaves application errors (unique violation, syntax error) and code-less errors alone', () => {
    expect(classify(failure('23505'), scene)).toBeUndefined()
    expect(classify(failure('42601'), scene)).toBeUndefined()
    expect(classify(new Error('too many connections'), scene)).toBeUndefined()
  })

  it('names the user and host of an authentication failure', () => {
    const error = classify(failure('28P01'), scene)
    expect(error?.message).toContain('"app"')
    expect(error?.message).toContain(scene.host)
  })

  it('points at pooler: true only when it is not set', () => {
    expect(classify(failure('08P01'), scene)?.hint).toMatch(/set pooler: true/)
    expect(classify(failure('08P01'), { ...scene, pooler: true })?.hint).not.toMatch(/set pooler: true/)
  })

  it('knows which failures happened before any statement was sent', () => {
    expect(failedBeforeSend(failure('53300'))).toBe(true)
    expect(failedBeforeSend(failure('ECONNREFUSED'))).toBe(true)
    expect(failedBeforeSend(failure('ECONNRESET', { rdsConnectPhase: true }))).toBe(true)
    expect(failedBeforeSend(failure('ECONNRESET'))).toBe(false)
    // Written after the server had ended the idle session: no backend read it.
    expect(failedBeforeSend(failure('CONNECTION_CLOSED', { rdsNotSent: true }))).toBe(true)
    expect(failedBeforeSend(failure('EPIPE', { rdsNotSent: true }))).toBe(true)
    expect(failedBeforeSend(failure('CONNECTION_CLOSED'))).toBe(false)
    expect(failedBeforeSend(failure('57P01'))).toBe(false)
    expect(isConnectionLoss(failure('57P01'))).toBe(true)
    expect(isConnectionLoss(failure('23505'))).toBe(false)
  })
})

describe('fromDatabase', () => {
  const node = (code: string) => Object.assign(new Error(code), { code })
  it('knows server errors, postgres.js connection errors and errors of rds sockets', () => {
    const server = Object.assign(new Error('deadlock detected'), { name: 'PostgresError', code: '40P01' })
    expect(fromDatabase(server)).toBe(true)
    expect(fromDatabase(node('CONNECTION_CLOSED'))).toBe(true)
    expect(fromDatabase(node('CONNECT_TIMEOUT'))).toBe(true)
    expect(fromDatabase(Object.assign(node('ECONNRESET'), { rdsSocket: true }))).toBe(true)
    expect(fromDatabase(Object.assign(node('ECONNREFUSED'), { rdsConnectPhase: true }))).toBe(true)
  })
  it('leaves the same Node codes from other I/O alone (a refused fetch, a KMS timeout)', () => {
    expect(fromDatabase(node('ECONNREFUSED'))).toBe(false)
    expect(fromDatabase(node('ETIMEDOUT'))).toBe(false)
    expect(fromDatabase(Object.assign(new Error('no'), { code: '53300' }))).toBe(false)
    expect(fromDatabase(undefined)).toBe(false)
    expect(fromDatabase('ECONNRESET')).toBe(false)
  })
})

describe('full-jitter backoff', () => {
  it('waits a uniform random time up to min(cap, base·2^attempt)', () => {
    expect(fullJitter(0, 50, 1000, () => 1)).toBe(50)
    expect(fullJitter(3, 50, 1000, () => 1)).toBe(400)
    expect(fullJitter(10, 50, 1000, () => 1)).toBe(1000)
    expect(fullJitter(10, 50, 1000, () => 0)).toBe(0)
    expect(fullJitter(2, 50, 1000, () => 0.5)).toBe(100)
  })
})

import { describe, expect, it } from 'vitest'
import { statementTimeoutBucket } from '../../src/connection/deadline.ts'
import { lambdaCaBundlePath, resolveTls } from '../../src/tls.ts'

const bundle = '-----BEGIN CERTIFICATE-----\nRDS\n-----END CERTIFICATE-----\n'

describe('resolveTls', () => {
  it('verifies chain and host name by default, with SNI for names', () => {
    const warnings: string[] = []
    const options = resolveTls('verify-full', 'db.example.com', { env: {}, warn: (m) => warnings.push(m) })
    expect(options).toEqual({
      rejectUnauthorized: true,
      host: 'db.example.com',
      servername: 'db.example.com',
    })
    expect(warnings).toEqual([])
  })

  it('sends no SNI for an IP address but still checks it against the certificate', () => {
    expect(resolveTls('verify-full', '10.0.0.5', { env: {} })).toEqual({
      rejectUnauthorized: true,
      host: '10.0.0.5',
    })
  })

  it('in Lambda, trusts the runtime RDS bundle plus the default store', () => {
    const read: string[] = []
    const options = resolveTls('verify-full', 'db', {
      env: { AWS_LAMBDA_FUNCTION_NAME: 'fn' },
      readFile: (path) => {
        read.push(path)
        return bundle
      },
    })
    expect(read).toEqual([lambdaCaBundlePath])
    const ca = (options as { ca: string[] }).ca
    expect(ca).toContain(bundle)
    expect(ca.length).toBeGreaterThan(100)
    expect(options).toMatchObject({ rejectUnauthorized: true })
  })

  it('uses only the given CA, and verifies against tls.servername when one is given', () => {
    expect(resolveTls({ ca: bundle }, 'db', { env: { AWS_LAMBDA_FUNCTION_NAME: 'fn' } })).toEqual({
      rejectUnauthorized: true,
      host: 'db',
      servername: 'db',
      ca: bundle,
    })
    expect(resolveTls({ ca: bundle, servername: 'db.example.com' }, '127.0.0.1', { env: {} })).toMatchObject({
      host: 'db.example.com',
      servername: 'db.example.com',
      rejectUnauthorized: true,
    })
  })

  it("warns for 'require' and false, and only then stops verifying", () => {
    const warnings: string[] = []
    expect(resolveTls('require', 'db', { env: {}, warn: (m) => warnings.push(m) })).toMatchObject({
      rejectUnauthorized: false,
    })
    expect(resolveTls(false, 'db', { env: {}, warn: (m) => warnings.push(m) })).toBe(false)
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatch(/not verified/)
    expect(warnings[1]).toMatch(/not encrypted/)
  })
})

describe('statement timeout', () => {
  it('rounds the budget down to coarse steps so warm connections rarely need a new value', () => {
    expect(statementTimeoutBucket(2_999)).toBe(2_900)
    expect(statementTimeoutBucket(28_999)).toBe(28_000)
    expect(statementTimeoutBucket(899_400)).toBe(890_000)
    expect(statementTimeoutBucket(20)).toBe(100)
  })
})

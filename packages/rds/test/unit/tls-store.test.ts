import tls from 'node:tls'
import { describe, expect, it } from 'vitest'
import { lambdaCaBundlePath, resolveTls } from '../../src/tls.ts'

const bundle = '-----BEGIN CERTIFICATE-----\nRDS\n-----END CERTIFICATE-----\n'

describe('resolveTls in Lambda', () => {
  it('reads the runtime bundle from /var/runtime/ca-cert.pem', () => {
    expect(lambdaCaBundlePath).toBe('/var/runtime/ca-cert.pem')
  })

  it('trusts Node’s default store and the system store next to the bundle, each certificate once', () => {
    const options = resolveTls('verify-full', 'db.example.com', {
      env: { AWS_LAMBDA_FUNCTION_NAME: 'fn' },
      readFile: () => bundle,
    })
    const ca = (options as { ca: string[] }).ca
    expect(ca.at(-1)).toBe(bundle)
    const store = new Set([...tls.getCACertificates('default'), ...tls.getCACertificates('system')])
    expect(new Set(ca.slice(0, -1))).toEqual(store)
    expect(ca.length - 1).toBe(store.size)
  })

  it('warns and verifies against the default store alone when the bundle file is missing', () => {
    const warnings: string[] = []
    // No readFile given: the real file system, where /var/runtime/ca-cert.pem does not exist outside Lambda.
    const options = resolveTls('verify-full', 'db.example.com', {
      env: { AWS_LAMBDA_FUNCTION_NAME: 'fn' },
      warn: (message) => warnings.push(message),
    })
    expect(options).toEqual({
      rejectUnauthorized: true,
      host: 'db.example.com',
      servername: 'db.example.com',
    })
    expect(warnings).toEqual([
      '@rdskit/rds: /var/runtime/ca-cert.pem is missing; verifying db.example.com against the default CA store only',
    ])
  })

  it('adds no CA list for an empty bundle file', () => {
    expect(
      resolveTls('verify-full', 'db', { env: { AWS_LAMBDA_FUNCTION_NAME: 'fn' }, readFile: () => '' }),
    ).toEqual({ rejectUnauthorized: true, host: 'db', servername: 'db' })
  })
})

describe("resolveTls with 'require'", () => {
  it('sends SNI for a host name, none for an IP, and says why it warns', () => {
    const warnings: string[] = []
    const warn = (message: string) => warnings.push(message)
    expect(resolveTls('require', 'db.example.com', { env: {}, warn })).toEqual({
      rejectUnauthorized: false,
      host: 'db.example.com',
      servername: 'db.example.com',
    })
    expect(resolveTls('require', '10.0.0.5', { env: {}, warn })).toEqual({
      rejectUnauthorized: false,
      host: '10.0.0.5',
    })
    expect(warnings[0]).toBe(
      "@rdskit/rds: tls: 'require' — the connection to db.example.com is encrypted but the server certificate is not verified (a man in the middle can read the password); use 'verify-full'",
    )
  })

  it('says what tls: false leaves in clear text', () => {
    const warnings: string[] = []
    resolveTls(false, 'db.example.com', { env: {}, warn: (message) => warnings.push(message) })
    expect(warnings).toEqual([
      '@rdskit/rds: tls: false — the connection to db.example.com is not encrypted, password included',
    ])
  })
})

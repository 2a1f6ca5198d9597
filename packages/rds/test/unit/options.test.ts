import { describe, expect, it } from 'vitest'
import { defaults, RdsError, rds } from '../../src/index.ts'
import { resolveOptions } from '../../src/options.ts'

describe('options', () => {
  it('merges the Lambda-tuned config defaults under what the user passes', () => {
    const o = resolveOptions({ config: { host: 'db', idle_timeout: 10 } }, {})
    expect(o.config).toMatchObject({
      host: 'db',
      max: 1,
      idle_timeout: 10,
      max_lifetime: 1800,
      connect_timeout: 20,
      prepare: true,
    })
    expect(o.contextKey).toBe('db')
    expect(o.tls).toBe('verify-full')
  })

  it('sizes the pool from AWS_LAMBDA_MAX_CONCURRENCY, bounded by maxPoolSize', () => {
    expect(resolveOptions({}, { AWS_LAMBDA_MAX_CONCURRENCY: '4' }).config.max).toBe(4)
    expect(resolveOptions({}, { AWS_LAMBDA_MAX_CONCURRENCY: '64' }).config.max).toBe(10)
    expect(resolveOptions({ maxPoolSize: 32 }, { AWS_LAMBDA_MAX_CONCURRENCY: '64' }).config.max).toBe(32)
    expect(resolveOptions({ config: { max: 2 } }, { AWS_LAMBDA_MAX_CONCURRENCY: '64' }).config.max).toBe(2)
    expect(resolveOptions({}, { AWS_LAMBDA_MAX_CONCURRENCY: 'x' }).config.max).toBe(1)
  })

  it("takes the reader as a host name or { host, port }, the port the writer's when left out", () => {
    expect(resolveOptions({ reader: 'db-ro' }, {}).reader).toEqual({ host: 'db-ro', port: undefined })
    expect(resolveOptions({ reader: { host: 'db-ro', port: 6432 } }, {}).reader).toEqual({
      host: 'db-ro',
      port: 6432,
    })
    expect(resolveOptions({}, {}).reader).toBeUndefined()
  })

  it('turns named prepared statements off behind a pooler', () => {
    expect(resolveOptions({ pooler: true }, {}).config.prepare).toBe(false)
    expect(resolveOptions({ pooler: true, config: { prepare: true } }, {}).config.prepare).toBe(false)
  })

  it.each([
    [{ tls: 'verify-ca' }, /`tls`/],
    [{ timeoutMargin: -1 }, /`timeoutMargin`/],
    [{ maxPoolSize: 0 }, /`maxPoolSize`/],
    [{ statementTimeout: 0 }, /`statementTimeout`/],
    [{ contextKey: '' }, /`contextKey`/],
    [{ internalData: { pasword: 'x' } }, /`internalData.pasword`/],
    [{ internalData: { password: '' } }, /`internalData.password`/],
    [{ credentialSource: { middleware: {} } }, /`credentialSource.cacheKey`/],
    [{ iamAuth: true, config: { password: 'x' } }, /`iamAuth` and a password/],
    [{ config: { max: -1 } }, /`config.max`/],
    [{ unknownThing: 1 }, /`unknownThing`/],
    [{ logger: { info() {} } }, /`logger`/],
    [{ reader: '' }, /`reader`/],
    [{ reader: { port: 5432 } }, /`reader`/],
    [{ reader: { host: 'ro', port: 0 } }, /`reader.port`/],
  ])('rejects %j with INVALID_OPTION naming the option', (input, name) => {
    const attempt = () => rds(input as never)
    expect(attempt).toThrow(RdsError)
    expect(attempt).toThrow(name)
    try {
      attempt()
    } catch (error) {
      expect(error).toMatchObject({ code: 'INVALID_OPTION', retryable: false })
      expect((error as RdsError).hint).not.toBe('')
    }
  })

  it('accepts every documented option name', () => {
    const all = Object.fromEntries(
      Object.keys(defaults).map((key) => [key, (defaults as Record<string, unknown>)[key]]),
    )
    expect(() => resolveOptions({ ...all, schema: {}, disablePrefetch: true } as never, {})).not.toThrow()
  })

  it('builds nothing and opens no connection at module load', () => {
    const middleware = rds({
      config: { host: '127.0.0.1', port: 1 },
      tls: false,
      logger: { warn() {} },
      cacheKey: 'unit-no-io',
    })
    expect(Object.keys(middleware).sort()).toEqual(['after', 'before', 'onError'])
    expect(middleware.before?.name).toBe('rdsMiddlewareBefore')
  })
})

describe('postgres.js ssl given instead of tls', () => {
  it.each([
    [false, false],
    [true, 'verify-full'],
    ['require', 'require'],
    [{ rejectUnauthorized: false }, 'require'],
    [{ rejectUnauthorized: true, servername: 'db.example.com' }, { servername: 'db.example.com' }],
    [{ ca: 'PEM' }, { ca: 'PEM' }],
  ])('keeps the meaning of ssl %j as tls %j', (ssl, tls) => {
    expect(resolveOptions({ config: { ssl: ssl as never } }, {}).tls).toEqual(tls)
  })

  it('lets an explicit tls option win', () => {
    expect(resolveOptions({ config: { ssl: false }, tls: 'verify-full' }, {}).tls).toBe('verify-full')
  })
})

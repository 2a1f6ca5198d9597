import { describe, expect, it } from 'vitest'
import { RdsError } from '../../src/errors.ts'
import { checkLogger, resolveOptions } from '../../src/options.ts'

/** The RdsError resolveOptions throws for `input`, failing the test when it accepts it. */
function rejection(input: unknown): RdsError {
  try {
    resolveOptions(input as never, {})
  } catch (error) {
    expect(error).toBeInstanceOf(RdsError)
    return error as RdsError
  }
  throw new Error(`accepted ${JSON.stringify(input)}`)
}

describe('resolveOptions: each rejection names the option, what it must be, and its default', () => {
  it.each([
    [{ timeoutMargin: -1 }, 'timeoutMargin', 'a number ≥ 0', '500'],
    [{ pingAfterIdle: -1 }, 'pingAfterIdle', 'a number ≥ 0', undefined],
    [{ pingTimeout: Number.NaN }, 'pingTimeout', 'a number ≥ 0', undefined],
    [{ backoffBase: '5' }, 'backoffBase', 'a number ≥ 0', undefined],
    [{ backoffCap: Number.POSITIVE_INFINITY }, 'backoffCap', 'a number ≥ 0', undefined],
    [{ maxPoolSize: 0.5 }, 'maxPoolSize', 'a number ≥ 1', '10'],
    [{ statementTimeout: 0.5 }, 'statementTimeout', 'a number ≥ 1', 'null'],
    [{ contextKey: 7 }, 'contextKey', 'a non-empty string', '"db"'],
    [{ cacheKey: '' }, 'cacheKey', 'a non-empty string', undefined],
    [{ cacheKey: 1 }, 'cacheKey', 'a non-empty string', undefined],
    [{ tls: null }, 'tls', "'verify-full', { ca }, 'require' or false", '"verify-full"'],
    [{ tls: ['ca'] }, 'tls', "'verify-full', { ca }, 'require' or false", '"verify-full"'],
    [{ tls: true }, 'tls', "'verify-full', { ca }, 'require' or false", '"verify-full"'],
    [
      { internalData: 'dbPassword' },
      'internalData',
      'an object mapping config fields to request.internal keys',
      'null',
    ],
    [
      { internalData: null },
      'internalData',
      'an object mapping config fields to request.internal keys',
      'null',
    ],
    [
      { credentialSource: { cacheKey: '' } },
      'credentialSource.cacheKey',
      'the cacheKey (string) of the middleware that fills internalData',
      'null',
    ],
    [
      { credentialSource: { cacheKey: 5 } },
      'credentialSource.cacheKey',
      'the cacheKey (string) of the middleware that fills internalData',
      'null',
    ],
    [
      { credentialSource: { cacheKey: 'k', middleware: {} } },
      'credentialSource.middleware',
      'a Middy middleware object with a before hook',
      'null',
    ],
    [{ iamAuth: 'yes' }, 'iamAuth', 'true or { region, hostname, port, username }', 'false'],
    [{ config: { idle_timeout: -1 } }, 'config.idle_timeout', 'a number ≥ 0', 'null'],
    [{ config: { max_lifetime: '1' } }, 'config.max_lifetime', 'a number ≥ 0', 'null'],
    [{ config: { connect_timeout: -0.5 } }, 'config.connect_timeout', 'a number ≥ 0', 'null'],
    [{ colour: 'red' }, 'colour', 'one of the documented options (unknown option)', 'null'],
  ])('rejects %j', (input, name, expected, shownDefault) => {
    const error = rejection(input)
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toMatch(new RegExp(`^rds\\(\\): option \`${name.replace('.', '\\.')}\` must be `))
    expect(error.message).toContain(
      `must be ${expected}. Hint: see the options table of @rdskit/rds; \`${name}\``,
    )
    if (shownDefault)
      expect(error.hint).toBe(`see the options table of @rdskit/rds; \`${name}\` defaults to ${shownDefault}`)
  })

  it.each([
    ['internalData.port', { internalData: { port: 3 } }, 'a request.internal key (string)'],
    [
      'internalData.pass',
      { internalData: { pass: 'p' } },
      'one of host, port, database, username, user, password',
    ],
  ])('rejects a bad %s', (name, input, expected) => {
    expect(rejection(input).message).toContain(`option \`${name}\` must be ${expected}.`)
  })

  it('names rds() as the owner of a logger without warn()', () => {
    expect(rejection({ logger: {} }).message).toMatch(
      /^rds\(\): option `logger` must have a warn\(message\) method/,
    )
  })

  it('checks credentialSource itself before its fields, and takes one without a middleware', () => {
    expect(rejection({ credentialSource: null }).message).toContain(
      'option `credentialSource.cacheKey` must be',
    )
    expect(resolveOptions({ credentialSource: { cacheKey: 'k' } }, {}).credentialSource).toEqual({
      cacheKey: 'k',
    })
  })

  it('leaves a config number given as undefined to postgres.js', () => {
    expect(resolveOptions({ config: { idle_timeout: undefined } }, {}).config.idle_timeout).toBeUndefined()
  })

  it('takes every config field internalData may fill', () => {
    const internalData = { host: 'a', port: 'b', database: 'c', username: 'd', user: 'e', password: 'f' }
    expect(resolveOptions({ internalData }, {}).internalData).toEqual(internalData)
  })

  it('refuses a password next to iamAuth, from config or from internalData', () => {
    for (const input of [
      { iamAuth: { region: 'eu-west-1' }, config: { password: 'x' } },
      { iamAuth: true, internalData: { password: 'dbPassword' } },
    ]) {
      const error = rejection(input)
      expect(error.message).toBe(
        'rds(): `iamAuth` and a password (config.password or internalData.password) are both set. Hint: with IAM authentication the token is the password: remove the password',
      )
    }
    expect(resolveOptions({ iamAuth: true, internalData: { username: 'u' } }, {}).iamAuth).toBe(true)
    expect(resolveOptions({ iamAuth: false, config: { password: 'x' } }, {}).iamAuth).toBe(false)
  })

  it('accepts the bounds themselves, false for statementTimeout, null and 0 for config numbers', () => {
    const o = resolveOptions(
      {
        timeoutMargin: 0,
        pingAfterIdle: 0,
        pingTimeout: 0,
        backoffBase: 0,
        backoffCap: 0,
        maxPoolSize: 1,
        statementTimeout: 1,
        config: { max: 0, idle_timeout: null as never, connect_timeout: 0 },
        credentialSource: { cacheKey: 'k', middleware: { before: () => {} } },
        iamAuth: { region: 'eu-west-1' },
        tls: { ca: 'PEM' },
      },
      {},
    )
    expect(o).toMatchObject({ timeoutMargin: 0, maxPoolSize: 1, statementTimeout: 1, tls: { ca: 'PEM' } })
    expect(resolveOptions({ statementTimeout: false }, {}).statementTimeout).toBe(false)
  })

  it('grows the pool only for a concurrency above one', () => {
    expect(resolveOptions({ maxPoolSize: 5 }, { AWS_LAMBDA_MAX_CONCURRENCY: '1' }).config.max).toBe(1)
    expect(resolveOptions({ maxPoolSize: 5 }, { AWS_LAMBDA_MAX_CONCURRENCY: '2' }).config.max).toBe(2)
    expect(resolveOptions({}, { AWS_LAMBDA_MAX_CONCURRENCY: '2.5' }).config.max).toBe(1)
  })
})

describe('checkLogger', () => {
  it('wants a warn(message) method and names the owner', () => {
    expect(() => checkLogger(undefined, 'rds')).not.toThrow()
    expect(() => checkLogger(console, 'migrate')).not.toThrow()
    for (const logger of [null, {}, { warn: 'loud' }]) {
      expect(() => checkLogger(logger, 'migrate')).toThrow(
        'migrate(): option `logger` must have a warn(message) method. Hint: pass console, a pino / Powertools logger, or { warn: (message) => … }',
      )
    }
    expect(() => checkLogger({}, 'rds')).toThrow(/^rds\(\): option `logger`/)
  })
})

describe('postgres.js ssl given instead of tls, every spelling', () => {
  it.each([
    [undefined, 'verify-full'],
    [null, 'verify-full'],
    [false, false],
    ['disable', false],
    [true, 'verify-full'],
    ['verify-full', 'verify-full'],
    ['require', 'require'],
    ['prefer', 'require'],
    ['allow', 'require'],
    [{ rejectUnauthorized: false, ca: 'PEM' }, 'require'],
    [{}, {}],
    [{ ca: 'PEM', servername: '' }, { ca: 'PEM' }],
    ['verify-ca', 'verify-full'],
  ])('ssl %j means tls %j', (ssl, tls) => {
    expect(resolveOptions({ config: { ssl: ssl as never } }, {}).tls).toStrictEqual(tls)
  })
})

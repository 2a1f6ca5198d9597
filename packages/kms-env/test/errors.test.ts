import { inspect } from 'node:util'
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms'
import middy from '@middy/core'
import { clearCache } from '@middy/util'
import { mockClient } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { decryptEnv, KmsEnvError, kmsEnv, kmsEnvErrorCodes } from '../src/index.ts'
import { lambdaContext, rejection, setEnv, utf8 } from './helpers.ts'

const plaintext = 'hunter2-パスワード🔑'
// A realistic-looking ciphertext: what must never show up anywhere.
const ciphertext = Buffer.from(`AQICAHh-fake-ciphertext-${'x'.repeat(40)}`).toString('base64')

const kms = mockClient(KMSClient)
let restoreEnv: () => void
beforeEach(() => {
  kms.reset()
  restoreEnv = setEnv({
    AWS_LAMBDA_FUNCTION_NAME: 'orders-api',
    AWS_REGION: 'eu-central-1',
    DB_PASSWORD: ciphertext,
    API_TOKEN: undefined,
  })
})
afterEach(() => {
  restoreEnv()
  clearCache()
})
const sdkError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400, requestId: 'req-1', attempts: 1, totalRetryDelay: 0 },
    // The SDK keeps the raw response (and, through it, request state): the ciphertext must not be reachable.
    $response: { body: ciphertext, request: { body: JSON.stringify({ CiphertextBlob: ciphertext }) } },
    ...extra,
  })

const decryptFailure = (error: Error, options: Parameters<typeof decryptEnv>[0] = {}) => {
  kms.on(DecryptCommand).rejects(error)
  return rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, ...options }))
}

describe('KmsEnvError for KMS failures: DECRYPT_FAILED with the KMS error name and a hint', () => {
  it('InvalidCiphertextException → encrypted for another function name or context, or not a KMS ciphertext', async () => {
    const error = await decryptFailure(sdkError('InvalidCiphertextException'))
    expect(error).toBeInstanceOf(KmsEnvError)
    expect(error).toMatchObject({
      code: 'DECRYPT_FAILED',
      variable: 'DB_PASSWORD',
      key: 'dbPassword',
      kmsError: 'InvalidCiphertextException',
    })
    expect(error.message).toMatch(
      /^Could not decrypt DB_PASSWORD \(fetchData\.dbPassword\): InvalidCiphertextException\./,
    )
    expect(error.hint).toMatch(/another function name or encryption context/)
    expect(error.hint).toContain('{"LambdaFunctionName":"orders-api"}')
    expect(error.hint).toMatch(/not a KMS ciphertext/)
    expect(error.hint).toMatch(/encryptionContext: false/)
    expect(error.message).toContain(error.hint as string)
  })

  it('AccessDeniedException → the kms:Decrypt statement and its LambdaFunctionName condition', async () => {
    const error = await decryptFailure(sdkError('AccessDeniedException'))
    expect(error.kmsError).toBe('AccessDeniedException')
    expect(error.hint).toMatch(/kms:Decrypt/)
    expect(error.hint).toMatch(/"kms:EncryptionContext:LambdaFunctionName" matches "orders-api"/)
  })

  it.each(['DisabledException', 'KMSInvalidStateException', 'NotFoundException'])(
    '%s → check the key’s state in the region',
    async (name) => {
      const error = await decryptFailure(sdkError(name))
      expect(error.kmsError).toBe(name)
      expect(error.hint).toMatch(/key’s state in eu-central-1/)
      expect(error.hint).toMatch(/Enabled/)
    },
  )

  it('IncorrectKeyException → the ciphertext was made with another key than keyId', async () => {
    const error = await decryptFailure(sdkError('IncorrectKeyException'), { keyId: 'alias/orders' })
    expect(error.hint).toMatch(/another KMS key than keyId 'alias\/orders'/)
  })

  it.each([
    [
      'a socket connect ETIMEDOUT',
      Object.assign(new Error('connect ETIMEDOUT 1.2.3.4:443'), { code: 'ETIMEDOUT', syscall: 'connect' }),
    ],
    ['an unreachable network', Object.assign(new Error('connect ENETUNREACH'), { code: 'ENETUNREACH' })],
    ['an unreachable host', Object.assign(new Error('connect EHOSTUNREACH'), { code: 'EHOSTUNREACH' })],
  ])(
    '%s → no route to KMS: NAT gateway or the com.amazonaws.<region>.kms endpoint',
    async (_label, cause) => {
      const error = await decryptFailure(cause)
      expect(error.kmsError).toBe('TimeoutError')
      expect(error.hint).toMatch(/^no route to KMS/)
      expect(error.hint).toMatch(/NAT gateway/)
      expect(error.hint).toContain('com.amazonaws.eu-central-1.kms')
    },
  )

  it('the SDK’s TimeoutError on a connection already open → slow KMS, retried on the next invocation', async () => {
    // The mocked client opens no connection, as when the SDK reuses a kept-alive one.
    const error = await decryptFailure(sdkError('TimeoutError', { $metadata: undefined }))
    expect(error.kmsError).toBe('TimeoutError')
    expect(error.hint).toMatch(/^slow KMS: the connection to KMS was open/)
    expect(error.hint).toMatch(/retried on the next invocation/)
    expect(error.hint).not.toMatch(/NAT gateway/)
  })

  it('a TimeoutError through a request handler of the caller’s own names both causes', async () => {
    const error = await decryptFailure(sdkError('TimeoutError', { $metadata: undefined }), {
      awsClientOptions: { requestHandler: { requestTimeout: 100 } },
    })
    expect(error.hint).toMatch(/^KMS did not answer within 5000 ms: if the connection never opened/)
    expect(error.hint).toContain('com.amazonaws.eu-central-1.kms')
    expect(error.hint).toMatch(/otherwise KMS was slow/)
  })

  it.each([
    ['ThrottlingException', /throttled/],
    ['KMSInternalException', /transient/],
    ['KeyUnavailableException', /transient/],
    ['DependencyTimeoutException', /transient/],
    ['InvalidKeyUsageException', /symmetric ENCRYPT_DECRYPT/],
    ['CredentialsProviderError', /no credentials/],
  ])('%s gets its own hint', async (name, hint) => {
    const error = await decryptFailure(sdkError(name))
    expect(error.kmsError).toBe(name)
    expect(error.hint).toMatch(hint)
  })

  it('a refused connection points at the endpoint configuration', async () => {
    const error = await decryptFailure(
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    )
    expect(error.kmsError).toBe('ECONNREFUSED')
    expect(error.hint).toMatch(/AWS_ENDPOINT_URL_KMS/)
  })

  it('keeps a sanitized cause: name, message, status and request id, never the SDK error or its response', async () => {
    const original = sdkError('InvalidCiphertextException')
    const error = await decryptFailure(original)
    const cause = error.cause as Error & Record<string, unknown>
    expect(cause).not.toBe(original)
    expect(cause).toBeInstanceOf(Error)
    expect(cause.name).toBe('InvalidCiphertextException')
    expect(cause.message).toBe('InvalidCiphertextException happened')
    expect(cause.$metadata).toEqual({
      httpStatusCode: 400,
      requestId: 'req-1',
      attempts: 1,
      totalRetryDelay: 0,
    })
    expect(cause).not.toHaveProperty('$response')
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain(ciphertext)
  })
})

describe('KmsEnvError for bad variables and values', () => {
  it('MISSING_VARIABLE when the variable is unset or empty, naming it', async () => {
    for (const value of [undefined, '', '   ']) {
      process.env.DB_PASSWORD = value as string
      if (value === undefined) delete process.env.DB_PASSWORD
      const error = await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
      expect(error).toMatchObject({ code: 'MISSING_VARIABLE', variable: 'DB_PASSWORD', key: 'dbPassword' })
      expect(error.message).toMatch(/DB_PASSWORD \(fetchData\.dbPassword\) is not set/)
      expect(error.hint).toMatch(/rdskit-kms encrypt/)
    }
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(0)
  })

  it('NOT_BASE64 when the variable holds plaintext, without repeating it', async () => {
    process.env.DB_PASSWORD = plaintext
    const error = await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
    expect(error).toMatchObject({ code: 'NOT_BASE64', variable: 'DB_PASSWORD' })
    expect(error.hint).toMatch(/not the plaintext/)
    expect(error.message).not.toContain(plaintext)
  })

  it('TOO_LARGE when the ciphertext is over KMS’s 6144-byte limit', async () => {
    process.env.DB_PASSWORD = Buffer.alloc(6145, 1).toString('base64')
    const error = await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
    expect(error).toMatchObject({ code: 'TOO_LARGE', variable: 'DB_PASSWORD' })
    expect(error.message).toMatch(/6145 bytes/)
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(0)
  })

  it('accepts a ciphertext of exactly 6144 bytes and surrounding whitespace', async () => {
    kms.on(DecryptCommand).resolves({ Plaintext: utf8.encode('ok') })
    process.env.DB_PASSWORD = ` ${Buffer.alloc(6144, 1).toString('base64')}\n`
    expect(await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } })).toEqual({ dbPassword: 'ok' })
  })

  it('NOT_UTF8 when the plaintext is binary', async () => {
    kms.on(DecryptCommand).resolves({ Plaintext: new Uint8Array([0xff, 0xfe, 0x00, 0xc3]) })
    const error = await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
    expect(error).toMatchObject({ code: 'NOT_UTF8', variable: 'DB_PASSWORD' })
  })

  it('JSON_INVALID names the key, never the value, and carries no JSON.parse cause', async () => {
    kms.on(DecryptCommand).resolves({ Plaintext: utf8.encode(plaintext) })
    const error = await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, json: true }))
    expect(error).toMatchObject({ code: 'JSON_INVALID', key: 'dbPassword', variable: 'DB_PASSWORD' })
    expect(error.message).toMatch(/fetchData\.dbPassword\) is not valid JSON/)
    expect(error.cause).toBeUndefined()
    expect(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain('hunter2')
  })

  it('reports every failed variable at once: the first as the error, the others named in it', async () => {
    process.env.API_TOKEN = ciphertext
    kms.on(DecryptCommand).rejects(sdkError('InvalidCiphertextException'))
    const error = (await rejection(
      decryptEnv({
        fetchData: { dbPassword: 'DB_PASSWORD', apiToken: 'API_TOKEN', missing: 'NOPE_NOT_SET' },
      }),
    )) as unknown as KmsEnvError
    expect(error.variable).toBe('DB_PASSWORD')
    expect(error.others.map((e) => [e.variable, e.code])).toEqual([
      ['API_TOKEN', 'DECRYPT_FAILED'],
      ['NOPE_NOT_SET', 'MISSING_VARIABLE'],
    ])
    expect(error.message).toMatch(
      /2 more failed too: API_TOKEN \(InvalidCiphertextException\), NOPE_NOT_SET \(MISSING_VARIABLE\)\./,
    )
    expect(error.toJSON().others).toHaveLength(2)
  })
})

describe('KmsEnvError for options: CONFIG_INVALID when the middleware is built', () => {
  it.each([
    [{ fetchdata: {} }, /unknown option 'fetchdata'/],
    [{ fetchData: 'DB_PASSWORD' }, /option 'fetchData' must be an object/],
    [{ fetchData: { a: 42 } }, /fetchData\.a must be an environment variable name or \{ variable/],
    [{ fetchData: { a: 'not a var name' } }, /fetchData\.a must name an environment variable/],
    [{ fetchData: { a: { variable: 'A', keyID: 'x' } } }, /fetchData\.a: unknown field 'keyID'/],
    [
      { fetchData: { a: { variable: 'A', encryptionContext: { n: 1 } } } },
      /fetchData\.a\.encryptionContext must hold only string values/,
    ],
    [{ fetchData: { a: { variable: 'A', json: 'yes' } } }, /fetchData\.a\.json must be a boolean/],
    [{ fetchData: { a: { variable: 'A', keyId: '' } } }, /fetchData\.a\.keyId must be a non-empty string/],
    [{ fetchData: { a: 'A' }, json: ['b'] }, /option 'json' lists 'b', which is not a fetchData key/],
    [
      { encryptionContext: 'orders-api' },
      /option 'encryptionContext' must be an object of strings, or false/,
    ],
    [{ keyId: '' }, /option 'keyId' must be a non-empty string/],
    [{ setToContext: 'yes' }, /option 'setToContext' must be a boolean/],
    [{ setToEnv: 1 }, /option 'setToEnv' must be a boolean/],
    [{ requestTimeout: -1 }, /option 'requestTimeout' must be an integer >= 0/],
    [{ timeout: 0 }, /option 'timeout' must be an integer >= 1 \(ms\)/],
    [{ timeoutMargin: 1.5 }, /option 'timeoutMargin' must be an integer >= 0 \(ms\)/],
    [{ cacheExpiry: -2 }, /option 'cacheExpiry' must be an integer >= -1/],
    [{ cacheKeyExpiry: { a: 'x' } }, /option 'cacheKeyExpiry' must be an object of integers/],
    [{ cacheKey: '' }, /option 'cacheKey' must be a non-empty string/],
    [{ AwsClient: {} }, /option 'AwsClient' must be a function/],
    [{ awsClientOptions: null }, /option 'awsClientOptions' must be an object/],
    [{ disablePrefetch: 'no' }, /option 'disablePrefetch' must be a boolean/],
  ])('rejects %j', (options, message) => {
    const error = (() => {
      try {
        kmsEnv(options as never)
      } catch (e) {
        return e as KmsEnvError
      }
      throw new Error('built')
    })()
    expect(error).toBeInstanceOf(KmsEnvError)
    expect(error.code).toBe('CONFIG_INVALID')
    expect(error.message).toMatch(message)
  })

  it('without AWS_LAMBDA_FUNCTION_NAME builds without throwing, then its first run names the variable and encryptionContext', async () => {
    delete process.env.AWS_LAMBDA_FUNCTION_NAME
    kms.on(DecryptCommand).resolves({ Plaintext: utf8.encode('x') })
    const middleware = kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } })
    const handler = middy()
      .use(middleware)
      .handler(async () => 'ran')
    for (let run = 0; run < 2; run++) {
      const error = await rejection(handler({}, lambdaContext()))
      expect(error).toBeInstanceOf(KmsEnvError)
      expect(error).toMatchObject({ code: 'CONFIG_INVALID' })
      expect(error.message).toMatch(
        /^DB_PASSWORD \(fetchData\.dbPassword\): .*AWS_LAMBDA_FUNCTION_NAME is not set/,
      )
      expect(error.hint).toMatch(/set AWS_LAMBDA_FUNCTION_NAME/)
      expect(error.hint).toMatch(/encryptionContext: \{ LambdaFunctionName/)
    }
    // Nothing was sent to KMS: a Decrypt without the context would only fail there, less clearly.
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(0)
    expect(await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/AWS_LAMBDA_FUNCTION_NAME/),
    })
  })

  it('without AWS_LAMBDA_FUNCTION_NAME, a context given (or none wanted) decrypts', async () => {
    delete process.env.AWS_LAMBDA_FUNCTION_NAME
    kms.on(DecryptCommand).resolves({ Plaintext: utf8.encode('x') })
    const given = middy()
      .use(
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD' },
          encryptionContext: { LambdaFunctionName: 'orders-api' },
          setToContext: true,
        }),
      )
      .handler(async (_event, context) => context.dbPassword)
    expect(await given({}, lambdaContext())).toBe('x')
    const none = middy()
      .use(
        kmsEnv({
          fetchData: { legacy: { variable: 'DB_PASSWORD', encryptionContext: false } },
          cacheKey: 'x',
          setToContext: true,
        }),
      )
      .handler(async (_event, context) => context.legacy)
    expect(await none({}, lambdaContext())).toBe('x')
    expect(kms.commandCalls(DecryptCommand).map((call) => call.args[0].input.EncryptionContext)).toEqual([
      { LambdaFunctionName: 'orders-api' },
      undefined,
    ])
  })

  it('rejects the middleware-only options in decryptEnv', async () => {
    const error = await rejection(decryptEnv({ fetchData: {}, cacheKey: 'x' } as never))
    expect(error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/decryptEnv: unknown option 'cacheKey'/),
    })
  })

  it('does not echo a ciphertext pasted into fetchData instead of a variable name', () => {
    expect(() => kmsEnv({ fetchData: { dbPassword: ciphertext } })).toThrow(KmsEnvError)
    try {
      kmsEnv({ fetchData: { dbPassword: ciphertext } })
    } catch (error) {
      expect(inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })).not.toContain(ciphertext)
    }
  })
})

describe('KmsEnvError shape', () => {
  it('has a stable code for each documented meaning, and serializes without a stack or cause', async () => {
    expect(Object.keys(kmsEnvErrorCodes)).toEqual([
      'MISSING_VARIABLE',
      'NOT_BASE64',
      'TOO_LARGE',
      'DECRYPT_FAILED',
      'NOT_UTF8',
      'JSON_INVALID',
      'CONFIG_INVALID',
    ])
    const error = await decryptFailure(sdkError('AccessDeniedException'))
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'KmsEnvError',
      code: 'DECRYPT_FAILED',
      message: error.message,
      variable: 'DB_PASSWORD',
      key: 'dbPassword',
      kmsError: 'AccessDeniedException',
      hint: error.hint,
    })
  })
})

describe('no secret ever leaves: messages, causes, JSON and console output', () => {
  it('keeps plaintext and ciphertext out of every error and every console line across failure paths', async () => {
    const lines: string[] = []
    const capture = (...args: unknown[]) => {
      lines.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' '))
    }
    const spies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation(capture),
    )
    const writes = [
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        lines.push(String(chunk))
        return true
      }),
      vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
        lines.push(String(chunk))
        return true
      }),
    ]
    const errors: unknown[] = []
    const collect = async (run: () => Promise<unknown>) => {
      try {
        await run()
      } catch (error) {
        errors.push(error)
      }
    }
    try {
      const scenarios: Array<[Error | { Plaintext: Uint8Array }, Record<string, unknown>]> = [
        [sdkError('InvalidCiphertextException'), {}],
        [sdkError('AccessDeniedException'), {}],
        [sdkError('TimeoutError'), {}],
        [{ Plaintext: utf8.encode(plaintext) }, { json: true }],
        [{ Plaintext: new Uint8Array([0xff, ...utf8.encode(plaintext)]) }, {}],
      ]
      for (const [outcome, extra] of scenarios) {
        kms.reset()
        if (outcome instanceof Error) kms.on(DecryptCommand).rejects(outcome)
        else kms.on(DecryptCommand).resolves(outcome)
        await collect(() => decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, ...extra }))
        clearCache()
        const handler = middy()
          .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, ...extra }))
          .handler(async () => {})
        await collect(() => handler({}, lambdaContext()))
      }
      process.env.DB_PASSWORD = plaintext.replace(/[^A-Za-z]/g, '') // base64-looking plaintext: hunter
      await collect(() => decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
      process.env.DB_PASSWORD = plaintext
      await collect(() => decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
    } finally {
      for (const spy of [...spies, ...writes]) spy.mockRestore()
    }
    expect(errors.length).toBeGreaterThanOrEqual(11)
    const surfaces = [
      ...lines,
      ...errors.flatMap((error) => {
        const chain: unknown[] = []
        for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) chain.push(e)
        return chain.flatMap((e) => [
          String(e),
          (e as Error).stack ?? '',
          JSON.stringify(e),
          inspect(e, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
        ])
      }),
    ]
    for (const text of surfaces) {
      expect(text).not.toContain(plaintext)
      expect(text).not.toContain('hunter2')
      expect(text).not.toContain(ciphertext)
      expect(text).not.toContain(Buffer.from(plaintext).toString('base64'))
    }
  })
})

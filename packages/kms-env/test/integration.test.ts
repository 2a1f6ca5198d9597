import { inspect } from 'node:util'
import { DecryptCommand, EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import middy from '@middy/core'
import { clearCache } from '@middy/util'
import { type KmsEndpoint, startKms } from '@rdskit/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { decryptEnv, kmsEnv } from '../src/index.ts'
import { runCliProcess } from './cli-process.ts'
import { lambdaContext, rejection, setEnv } from './helpers.ts'

const secret = 'db-パスワード-🔑-ünï'
let kms: KmsEndpoint
let client: KMSClientConfig
let restoreEnv: () => void

beforeAll(async () => {
  kms = await startKms({ aliases: ['alias/orders', 'alias/other'] })
  client = { endpoint: kms.url, region: kms.region, credentials: kms.credentials }
})
afterAll(() => kms.stop())
beforeEach(() => {
  restoreEnv = setEnv({
    AWS_LAMBDA_FUNCTION_NAME: 'orders-api',
    DB_PASSWORD: undefined,
    API_TOKEN: undefined,
  })
})
afterEach(() => {
  restoreEnv()
  clearCache()
  kms.faults.clear()
  kms.clearCalls()
})

/** `rdskit-kms encrypt` through a child process, against the test endpoint (loopback: dummy credentials). */
async function cliEncrypt(value: string, fn = 'orders-api', extra: string[] = []): Promise<string> {
  const result = await runCliProcess(
    [
      'encrypt',
      '--key-id',
      'alias/orders',
      ...(fn ? ['--function-name', fn] : []),
      '--endpoint',
      kms.url,
      ...extra,
    ],
    `${value}\n`,
    {},
  )
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  return result.stdout.trim()
}

describe('kmsEnv with the real @aws-sdk/client-kms against the KMS test endpoint', () => {
  it('decrypts, in a middy handler, a ciphertext made by the CLI (UTF-8 intact, context and key pin sent)', async () => {
    process.env.DB_PASSWORD = await cliEncrypt(secret)
    kms.clearCalls()
    const handler = middy()
      .use(
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD' },
          keyId: 'alias/orders',
          setToContext: true,
          awsClientOptions: client,
        }),
      )
      .handler(async (_event, context) => context.dbPassword)
    expect(await handler({}, lambdaContext())).toBe(secret)
    expect(kms.calls()).toMatchObject([
      {
        operation: 'Decrypt',
        requestedKeyId: 'alias/orders',
        encryptionContext: { LambdaFunctionName: 'orders-api' },
        status: 200,
      },
    ])
  })

  it('fails for a renamed function with InvalidCiphertextException and the hint, leaking nothing', async () => {
    const ciphertext = await cliEncrypt(secret)
    process.env.DB_PASSWORD = ciphertext
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'orders-api-v2'
    const handler = middy()
      .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, awsClientOptions: client }))
      .handler(async () => 'unreachable')
    const error = await rejection(handler({}, lambdaContext()))
    expect(error).toMatchObject({ code: 'DECRYPT_FAILED', kmsError: 'InvalidCiphertextException' })
    expect(error.message).toMatch(/another function name or encryption context/)
    expect(error.message).toContain('orders-api-v2')
    // The real SDK error keeps a hidden $response (socket, headers…); the cause is a plain copy without it.
    expect(Object.getOwnPropertyNames(error.cause)).not.toContain('$response')
    const everything = inspect(error, { depth: Number.POSITIVE_INFINITY, showHidden: true })
    expect(everything).not.toContain(ciphertext)
    expect(everything).not.toContain(secret)
  })

  it('gets through two throttled calls: the SDK retries and the handler sees the value', async () => {
    process.env.DB_PASSWORD = await cliEncrypt(secret)
    kms.clearCalls()
    kms.faults.throttleNext(2)
    const values = await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, awsClientOptions: client })
    expect(values).toEqual({ dbPassword: secret })
    expect(kms.calls().map((c) => c.errorType ?? c.status)).toEqual([
      'ThrottlingException',
      'ThrottlingException',
      200,
    ])
  })

  it('fails after the SDK’s attempts of requestTimeout each when KMS never answers, with the slow-KMS hint', async () => {
    process.env.DB_PASSWORD = await cliEncrypt(secret)
    kms.faults.hangNext(3)
    const started = performance.now()
    const error = await rejection(
      decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, requestTimeout: 250, awsClientOptions: client }),
    )
    const elapsed = performance.now() - started
    expect(error).toMatchObject({ code: 'DECRYPT_FAILED', kmsError: 'TimeoutError' })
    // The endpoint accepted every connection: KMS was slow, the route is fine.
    expect(error.message).toMatch(/slow KMS: the connection to KMS was open/)
    expect(error.message).not.toMatch(/NAT gateway/)
    // 3 attempts of 250 ms plus the SDK's backoff between them, well inside the 5 s budget
    expect(elapsed).toBeGreaterThanOrEqual(3 * 250)
    expect(elapsed).toBeLessThan(3 * 250 + 1500)
  })

  it('pins the key: a ciphertext of another key fails with IncorrectKeyException', async () => {
    process.env.DB_PASSWORD = await cliEncrypt(secret)
    const error = await rejection(
      decryptEnv({
        fetchData: { dbPassword: 'DB_PASSWORD' },
        keyId: 'alias/other',
        awsClientOptions: client,
      }),
    )
    expect(error).toMatchObject({ kmsError: 'IncorrectKeyException' })
    expect(error.message).toMatch(/keyId 'alias\/other'/)
  })

  it('reports a disabled key and a denied context with their hints', async () => {
    process.env.DB_PASSWORD = await cliEncrypt(secret)
    kms.disableKey('alias/orders')
    try {
      const disabled = await rejection(
        decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, awsClientOptions: client }),
      )
      expect(disabled).toMatchObject({ kmsError: 'DisabledException' })
      expect(disabled.message).toMatch(/key’s state in us-east-1/)
    } finally {
      kms.enableKey('alias/orders')
    }
    kms.faults.denyContext({ LambdaFunctionName: 'orders-api' })
    const denied = await rejection(
      decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, awsClientOptions: client }),
    )
    expect(denied).toMatchObject({ kmsError: 'AccessDeniedException' })
    expect(denied.message).toMatch(/"kms:EncryptionContext:LambdaFunctionName" matches "orders-api"/)
  })

  it('decrypts a legacy ciphertext (made without a context) through a per-key encryptionContext: false', async () => {
    process.env.DB_PASSWORD = await cliEncrypt(secret)
    process.env.API_TOKEN = await cliEncrypt('legacy-token', '', ['--no-context'])
    const values = await decryptEnv({
      fetchData: { dbPassword: 'DB_PASSWORD', apiToken: { variable: 'API_TOKEN', encryptionContext: false } },
      awsClientOptions: client,
    })
    expect(values).toEqual({ dbPassword: secret, apiToken: 'legacy-token' })
  })

  it('decrypts ten variables in about one round trip, and never twice for concurrent invocations', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `SECRET_${i}`)
    const undo = setEnv(Object.fromEntries(names.map((n) => [n, undefined])))
    try {
      const kmsClient = new KMSClient(client)
      for (const name of names) {
        const out = await kmsClient.send(
          new EncryptCommand({
            KeyId: 'alias/orders',
            Plaintext: new TextEncoder().encode(`value of ${name}`),
            EncryptionContext: { LambdaFunctionName: 'orders-api' },
          }),
        )
        process.env[name] = Buffer.from(out.CiphertextBlob as Uint8Array).toString('base64')
      }
      kms.clearCalls()
      kms.faults.latency(100)
      const started = performance.now()
      const handler = middy()
        .use(kmsEnv({ fetchData: Object.fromEntries(names.map((n) => [n, n])), awsClientOptions: client }))
        .handler(async () => 'ok')
      const results = await Promise.all([handler({}, lambdaContext()), handler({}, lambdaContext())])
      const elapsed = performance.now() - started
      expect(results).toEqual(['ok', 'ok'])
      expect(kms.calls().filter((c) => c.operation === 'Decrypt')).toHaveLength(10)
      // sequential would take at least 10 × 100 ms; the slack is for a loaded machine
      expect(elapsed).toBeLessThan(100 * 8)
    } finally {
      undo()
    }
  })
})

describe('rdskit-kms end to end against the KMS test endpoint', () => {
  it('encrypts from stdin, then check reports OK, never printing the value', async () => {
    const ciphertext = await cliEncrypt(secret)
    expect(ciphertext).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
    const direct = await new KMSClient(client).send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(ciphertext, 'base64'),
        EncryptionContext: { LambdaFunctionName: 'orders-api' },
      }),
    )
    // The trailing newline `echo` adds is dropped.
    expect(new TextDecoder().decode(direct.Plaintext)).toBe(secret)
    const check = await runCliProcess(
      [
        'check',
        '--function-name',
        'orders-api',
        '--key-id',
        'alias/orders',
        '--endpoint',
        kms.url,
        'DB_PASSWORD',
      ],
      '',
      { DB_PASSWORD: ciphertext },
    )
    expect(check).toEqual({ code: 0, stdout: 'DB_PASSWORD: OK\n', stderr: '' })
  })

  it('check reports FAILED with the hint for a wrong function name and a missing variable, exit code 1', async () => {
    const ciphertext = await cliEncrypt(secret)
    const check = await runCliProcess(
      ['check', '--function-name', 'billing-api', '--endpoint', kms.url, 'DB_PASSWORD', 'API_TOKEN'],
      '',
      { DB_PASSWORD: ciphertext },
    )
    expect(check.code).toBe(1)
    const [first, second] = check.stdout.trim().split('\n')
    expect(first).toMatch(
      /^DB_PASSWORD: FAILED DECRYPT_FAILED InvalidCiphertextException\. Hint: .*another function name/,
    )
    expect(second).toMatch(/^API_TOKEN: FAILED MISSING_VARIABLE\. Hint:/)
    expect(check.stdout + check.stderr).not.toContain(secret)
    expect(check.stdout + check.stderr).not.toContain(ciphertext)
  })

  it('finds the endpoint through AWS_ENDPOINT_URL_KMS too, with the credentials given in the environment', async () => {
    const result = await runCliProcess(
      ['encrypt', '--key-id', 'alias/orders', '--function-name', 'orders-api'],
      'x',
      {
        AWS_ENDPOINT_URL_KMS: kms.url,
        AWS_REGION: kms.region,
        AWS_ACCESS_KEY_ID: kms.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: kms.credentials.secretAccessKey,
      },
    )
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(kms.calls().at(-1)).toMatchObject({
      operation: 'Encrypt',
      encryptionContext: { LambdaFunctionName: 'orders-api' },
    })
  })

  it('says which key is missing when encrypting with an unknown alias', async () => {
    const result = await runCliProcess(
      ['encrypt', '--key-id', 'alias/nope', '--function-name', 'orders-api', '--endpoint', kms.url],
      'x',
      {},
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      /Encrypt with key alias\/nope failed: NotFoundException\. Hint: check the key’s state/,
    )
  })
})

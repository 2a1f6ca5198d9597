import {
  DecryptCommand,
  type DecryptCommandInput,
  KMSClient,
  type KMSClientConfig,
} from '@aws-sdk/client-kms'
import middy from '@middy/core'
import { clearCache, getInternal } from '@middy/util'
import type { AwsStub } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import kmsEnvDefault, { KmsEnvError, kmsEnv } from '../src/index.ts'
import { concurrency, fakeCiphertext, lambdaContext, mockKms, nameOf, rejection, setEnv } from './helpers.ts'

// biome-ignore lint/suspicious/noExplicitAny: aws-sdk-client-mock's stub type is deeply generic
type Stub = AwsStub<any, any, any>

const plaintexts = {
  DB_PASSWORD: 'hunter2',
  API_TOKEN: 'tok-123',
  CONFIG: '{"pool":5,"tls":true}',
  JAPANESE: 'パスワードは秘密です🔑🍣',
  OLD: 'legacy-secret',
}
let kms: Stub
let restoreEnv: () => void

beforeEach(() => {
  kms = mockKms(plaintexts)
  restoreEnv = setEnv({
    AWS_LAMBDA_FUNCTION_NAME: 'orders-api',
    AWS_REGION: 'us-east-1',
    ...Object.fromEntries(Object.keys(plaintexts).map((name) => [name, fakeCiphertext(name)])),
  })
})
afterEach(() => {
  kms.restore()
  restoreEnv()
  clearCache()
})

const decryptInputs = () =>
  kms.commandCalls(DecryptCommand).map((call) => call.args[0].input as DecryptCommandInput)
const decryptedNames = () => decryptInputs().map((input) => nameOf(input.CiphertextBlob))
/** A KMSClient subclass that records the config it was built with. */
function recordingClient() {
  const configs: KMSClientConfig[] = []
  class RecordingClient extends KMSClient {
    constructor(config: KMSClientConfig) {
      super(config)
      configs.push(config)
    }
  }
  return { RecordingClient, configs }
}
const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms))

describe('kmsEnv', () => {
  it('is both the default and a named export', () => {
    expect(kmsEnvDefault).toBe(kmsEnv)
  })

  it('puts each decrypted value in request.internal under its fetchData key', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD', apiToken: 'API_TOKEN' } }))
      .before(async (request) => {
        expect(request.internal).toMatchObject({ dbPassword: 'hunter2', apiToken: 'tok-123' })
        const values = await getInternal(['dbPassword', 'apiToken'], request)
        expect(values).toEqual({ dbPassword: 'hunter2', apiToken: 'tok-123' })
      })
      .handler(async () => 'ok')
    expect(await handler({}, lambdaContext())).toBe('ok')
  })

  it('decrypts with the console’s encryption context { LambdaFunctionName } by default and no KeyId', async () => {
    await middy()
      .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
      .handler(async () => {})({}, lambdaContext())
    expect(decryptInputs()).toEqual([
      { CiphertextBlob: expect.any(Uint8Array), EncryptionContext: { LambdaFunctionName: 'orders-api' } },
    ])
  })

  it('replaces the context with the encryptionContext object, and pins the key with keyId', async () => {
    await middy()
      .use(
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD' },
          encryptionContext: { app: 'orders', stage: 'prod' },
          keyId: 'alias/orders',
        }),
      )
      .handler(async () => {})({}, lambdaContext())
    expect(decryptInputs()[0]).toMatchObject({
      EncryptionContext: { app: 'orders', stage: 'prod' },
      KeyId: 'alias/orders',
    })
  })

  it('decrypts with no context when encryptionContext is false (or an empty object)', async () => {
    await middy()
      .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, encryptionContext: false }))
      .use(kmsEnv({ fetchData: { apiToken: 'API_TOKEN' }, encryptionContext: {}, cacheKey: 'second' }))
      .handler(async () => {})({}, lambdaContext())
    for (const input of decryptInputs()) expect(input).not.toHaveProperty('EncryptionContext')
    expect(decryptInputs()).toHaveLength(2)
  })

  it('applies per-key overrides of encryptionContext, keyId and json over the top-level options', async () => {
    let internal: Record<string, unknown> = {}
    await middy()
      .use(
        kmsEnv({
          fetchData: {
            dbPassword: 'DB_PASSWORD',
            legacy: { variable: 'OLD', encryptionContext: false, keyId: 'alias/legacy' },
            config: { variable: 'CONFIG', json: true },
          },
          keyId: 'alias/orders',
        }),
      )
      .before((request) => {
        internal = { ...request.internal }
      })
      .handler(async () => {})({}, lambdaContext())
    const byName = Object.fromEntries(decryptInputs().map((input) => [nameOf(input.CiphertextBlob), input]))
    expect(byName.DB_PASSWORD).toMatchObject({
      KeyId: 'alias/orders',
      EncryptionContext: { LambdaFunctionName: 'orders-api' },
    })
    expect(byName.OLD).toMatchObject({ KeyId: 'alias/legacy' })
    expect(byName.OLD).not.toHaveProperty('EncryptionContext')
    expect(byName.CONFIG).toMatchObject({ KeyId: 'alias/orders' })
    expect(internal).toEqual({
      dbPassword: 'hunter2',
      legacy: 'legacy-secret',
      config: { pool: 5, tls: true },
    })
  })

  it('parses every value as JSON with json: true, and only the listed keys with a list', async () => {
    process.env.API_TOKEN = fakeCiphertext('CONFIG')
    let internal: Record<string, unknown> = {}
    await middy()
      .use(kmsEnv({ fetchData: { a: 'CONFIG', b: 'API_TOKEN' }, json: true }))
      .use(kmsEnv({ fetchData: { c: 'CONFIG', d: 'DB_PASSWORD' }, json: ['c'], cacheKey: 'list' }))
      .before((request) => {
        internal = { ...request.internal }
      })
      .handler(async () => {})({}, lambdaContext())
    expect(internal).toEqual({
      a: { pool: 5, tls: true },
      b: { pool: 5, tls: true },
      c: { pool: 5, tls: true },
      d: 'hunter2',
    })
  })

  it('decodes the plaintext as UTF-8 (Japanese text and emoji survive)', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { secret: 'JAPANESE' }, setToContext: true }))
      .handler(async (_event, context) => context.secret)
    expect(await handler({}, lambdaContext())).toBe('パスワードは秘密です🔑🍣')
  })

  it('puts the values on the Lambda context with setToContext: true, and not without it', async () => {
    const seen: Array<Record<string, unknown>> = []
    const handler = middy()
      .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, setToContext: true }))
      .use(kmsEnv({ fetchData: { apiToken: 'API_TOKEN' }, cacheKey: 'no-context' }))
      .handler(async (_event, context) => {
        seen.push({ ...context })
      })
    await handler({}, lambdaContext())
    expect(seen[0]?.dbPassword).toBe('hunter2')
    expect(seen[0]).not.toHaveProperty('apiToken')
  })

  it('leaves process.env alone by default, and writes the plaintext there only with setToEnv: true', async () => {
    await middy()
      .use(kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } }))
      .handler(async () => {})({}, lambdaContext())
    expect(process.env.DB_PASSWORD).toBe(fakeCiphertext('DB_PASSWORD'))
    await middy()
      .use(kmsEnv({ fetchData: { apiToken: 'API_TOKEN' }, setToEnv: true, cacheKey: 'env' }))
      .handler(async () => {})({}, lambdaContext())
    expect(process.env.API_TOKEN).toBe('tok-123')
  })

  it('with setToEnv, still decrypts the original ciphertext when the cache refreshes', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { apiToken: 'API_TOKEN' }, setToEnv: true, cacheExpiry: 0 }))
      .handler(async (_e, _c) => process.env.API_TOKEN)
    expect(await handler({}, lambdaContext())).toBe('tok-123')
    expect(await handler({}, lambdaContext())).toBe('tok-123')
    expect(decryptedNames()).toEqual(['API_TOKEN', 'API_TOKEN'])
  })
})

describe('kmsEnv prefetch and cache', () => {
  it('starts every Decrypt when the middleware is built (module load), all at once', async () => {
    kms.restore()
    kms = mockKms(plaintexts, 50)
    kmsEnv({ fetchData: { a: 'DB_PASSWORD', b: 'API_TOKEN', c: 'CONFIG' } })
    await tick()
    expect(decryptedNames().sort()).toEqual(['API_TOKEN', 'CONFIG', 'DB_PASSWORD'])
    expect(concurrency.inFlight).toBe(3)
  })

  it('waits for the first invocation with disablePrefetch: true', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, disablePrefetch: true }))
      .handler(async () => {})
    await tick()
    expect(decryptInputs()).toHaveLength(0)
    await handler({}, lambdaContext())
    expect(decryptInputs()).toHaveLength(1)
  })

  it('decrypts once per container: warm invocations make no KMS call', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD', b: 'API_TOKEN' }, setToContext: true }))
      .handler(async (_event, context) => [context.a, context.b])
    for (let i = 0; i < 5; i++) expect(await handler({}, lambdaContext())).toEqual(['hunter2', 'tok-123'])
    expect(decryptInputs()).toHaveLength(2)
  })

  it('decrypts once per key when two invocations arrive during one in-flight Decrypt', async () => {
    kms.restore()
    kms = mockKms(plaintexts, 100)
    const handler = middy()
      .use(
        kmsEnv({
          fetchData: { a: 'DB_PASSWORD', b: 'API_TOKEN' },
          disablePrefetch: true,
          setToContext: true,
        }),
      )
      .handler(async (_event, context) => context.a)
    const results = await Promise.all([handler({}, lambdaContext()), handler({}, lambdaContext())])
    expect(results).toEqual(['hunter2', 'hunter2'])
    expect(decryptedNames().sort()).toEqual(['API_TOKEN', 'DB_PASSWORD'])
  })

  it('shares the prefetched in-flight Decrypt with invocations that start before it finishes', async () => {
    kms.restore()
    kms = mockKms(plaintexts, 100)
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, setToContext: true }))
      .handler(async (_event, context) => context.a)
    const results = await Promise.all([1, 2, 3].map(() => handler({}, lambdaContext())))
    expect(results).toEqual(['hunter2', 'hunter2', 'hunter2'])
    expect(decryptInputs()).toHaveLength(1)
  })

  it('evicts only a failed key and retries it on the next invocation, keeping the others cached', async () => {
    kms.restore()
    let failNext = true
    kms = mockKms(plaintexts)
    kms.on(DecryptCommand).callsFake(async (input: DecryptCommandInput) => {
      const name = nameOf(input.CiphertextBlob)
      if (name === 'API_TOKEN' && failNext) {
        failNext = false
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
      }
      return { Plaintext: new TextEncoder().encode(plaintexts[name as keyof typeof plaintexts]) }
    })
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD', b: 'API_TOKEN' }, setToContext: true }))
      .handler(async (_event, context) => [context.a, context.b])
    const error = await rejection(handler({}, lambdaContext()))
    expect(error).toBeInstanceOf(KmsEnvError)
    expect(error).toMatchObject({
      code: 'DECRYPT_FAILED',
      variable: 'API_TOKEN',
      kmsError: 'ThrottlingException',
    })
    expect(await handler({}, lambdaContext())).toEqual(['hunter2', 'tok-123'])
    expect(await handler({}, lambdaContext())).toEqual(['hunter2', 'tok-123'])
    expect(decryptedNames().sort()).toEqual(['API_TOKEN', 'API_TOKEN', 'DB_PASSWORD'])
  })

  it('retries, in the first invocation, a prefetch Decrypt that failed before it arrived', async () => {
    kms.restore()
    let calls = 0
    kms = mockKms(plaintexts)
    kms.on(DecryptCommand).callsFake(async (input: DecryptCommandInput) => {
      calls++
      if (calls === 1) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
      return {
        Plaintext: new TextEncoder().encode(plaintexts[nameOf(input.CiphertextBlob) as 'DB_PASSWORD']),
      }
    })
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, setToContext: true }))
      .handler(async (_event, context) => context.a)
    await tick(10) // INIT ends; the prefetch has failed by now
    expect(await handler({}, lambdaContext())).toBe('hunter2')
    expect(calls).toBe(2)
  })

  it('decrypts on every invocation with cacheExpiry: 0', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, cacheExpiry: 0 }))
      .handler(async () => {})
    await handler({}, lambdaContext())
    await handler({}, lambdaContext())
    expect(decryptInputs()).toHaveLength(2)
  })

  it('takes the expiry of its cacheKey from cacheKeyExpiry over cacheExpiry', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, cacheKey: 'per-key', cacheKeyExpiry: { 'per-key': 0 } }))
      .handler(async () => {})
    await handler({}, lambdaContext())
    await handler({}, lambdaContext())
    expect(decryptInputs()).toHaveLength(2)
  })

  it('refreshes after cacheExpiry ms', async () => {
    const handler = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, cacheExpiry: 50 }))
      .handler(async () => {})
    await handler({}, lambdaContext())
    await handler({}, lambdaContext())
    expect(decryptInputs()).toHaveLength(1)
    await tick(80)
    await handler({}, lambdaContext())
    expect(decryptInputs().length).toBeGreaterThanOrEqual(2)
  })

  it('keeps one cache entry per cacheKey: a second middleware with the same key reuses the first’s values', async () => {
    kmsEnv({ fetchData: { a: 'DB_PASSWORD' } })
    await tick()
    expect(decryptInputs()).toHaveLength(1)
    const sameKey = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, disablePrefetch: true }))
      .handler(async () => {})
    await sameKey({}, lambdaContext())
    expect(decryptInputs()).toHaveLength(1)
    const otherKey = middy()
      .use(kmsEnv({ fetchData: { a: 'DB_PASSWORD' }, disablePrefetch: true, cacheKey: 'other' }))
      .handler(async () => {})
    await otherKey({}, lambdaContext())
    expect(decryptInputs()).toHaveLength(2)
  })

  it('builds its client from AwsClient and awsClientOptions, with the requestTimeout applied', async () => {
    const { RecordingClient, configs } = recordingClient()
    kmsEnv({
      fetchData: { a: 'DB_PASSWORD' },
      AwsClient: RecordingClient,
      awsClientOptions: { region: 'eu-west-1' },
    })
    kmsEnv({
      fetchData: { a: 'DB_PASSWORD' },
      AwsClient: RecordingClient,
      awsClientOptions: { region: 'eu-west-1', requestHandler: { requestTimeout: 99 } },
      cacheKey: 'own-handler',
    })
    expect(configs).toEqual([
      {
        region: 'eu-west-1',
        requestHandler: {
          connectionTimeout: 2000,
          requestTimeout: 2000,
          throwOnRequestTimeout: true,
          // The SDK's default agents (keep-alive, 50 sockets), watched to tell no route from slow KMS.
          httpAgent: expect.objectContaining({ keepAlive: true, maxSockets: 50 }),
          httpsAgent: expect.objectContaining({ keepAlive: true, maxSockets: 50 }),
        },
      },
      { region: 'eu-west-1', requestHandler: { requestTimeout: 99 } },
    ])
  })

  it('assumes a role from request.internal with awsClientAssumeRole (no prefetch)', async () => {
    const { RecordingClient, configs } = recordingClient()
    const credentials = { accessKeyId: 'AKIAASSUMED', secretAccessKey: 's', sessionToken: 't' }
    const handler = middy()
      .before((request) => {
        Object.assign(request.internal, { roleCredentials: credentials })
      })
      .use(
        kmsEnv({
          fetchData: { a: 'DB_PASSWORD' },
          AwsClient: RecordingClient,
          awsClientAssumeRole: 'roleCredentials',
        }),
      )
      .handler(async () => {})
    await tick()
    expect(configs).toHaveLength(0)
    await handler({}, lambdaContext())
    expect(configs[0]).toMatchObject({ credentials })
    expect(decryptInputs()).toHaveLength(1)
  })

  it('wraps the client with awsClientCapture when prefetch is disabled', async () => {
    const captured: unknown[] = []
    const handler = middy()
      .use(
        kmsEnv({
          fetchData: { a: 'DB_PASSWORD' },
          disablePrefetch: true,
          awsClientCapture: (client) => {
            captured.push(client)
            return client
          },
        }),
      )
      .handler(async () => {})
    await handler({}, lambdaContext())
    expect(captured).toHaveLength(1)
    expect(captured[0]).toBeInstanceOf(KMSClient)
  })
})

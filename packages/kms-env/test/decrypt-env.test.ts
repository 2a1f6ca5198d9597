import { DecryptCommand, type DecryptCommandInput, KMSClient } from '@aws-sdk/client-kms'
import type { AwsStub } from 'aws-sdk-client-mock'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { decryptEnv } from '../src/index.ts'
import { concurrency, fakeCiphertext, mockKms, nameOf, setEnv } from './helpers.ts'

// biome-ignore lint/suspicious/noExplicitAny: aws-sdk-client-mock's stub type is deeply generic
let kms: AwsStub<any, any, any>
let restoreEnv: () => void
const plaintexts = { DB_PASSWORD: 'hunter2', SETTINGS: '{"debug":false}' }

beforeEach(() => {
  kms = mockKms(plaintexts, 40)
  restoreEnv = setEnv({
    AWS_LAMBDA_FUNCTION_NAME: 'report-job',
    DB_PASSWORD: fakeCiphertext('DB_PASSWORD'),
    SETTINGS: fakeCiphertext('SETTINGS'),
  })
})
afterEach(() => {
  kms.restore()
  restoreEnv()
})

describe('decryptEnv', () => {
  it('resolves to { key: plaintext } with the Lambda context, decrypting all keys concurrently', async () => {
    const values = await decryptEnv({
      fetchData: { dbPassword: 'DB_PASSWORD', settings: 'SETTINGS' },
      json: ['settings'],
    })
    expect(values).toEqual({ dbPassword: 'hunter2', settings: { debug: false } })
    expect(concurrency.max).toBe(2)
    const inputs = kms.commandCalls(DecryptCommand).map((c) => c.args[0].input as DecryptCommandInput)
    expect(inputs.map((i) => [nameOf(i.CiphertextBlob), i.EncryptionContext])).toEqual([
      ['DB_PASSWORD', { LambdaFunctionName: 'report-job' }],
      ['SETTINGS', { LambdaFunctionName: 'report-job' }],
    ])
  })

  it('keeps no cache: each call decrypts again', async () => {
    await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } })
    await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } })
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(2)
  })

  it('writes process.env only with setToEnv', async () => {
    await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' } })
    expect(process.env.DB_PASSWORD).toBe(fakeCiphertext('DB_PASSWORD'))
    await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, setToEnv: true })
    expect(process.env.DB_PASSWORD).toBe('hunter2')
  })

  it('wraps its client with awsClientCapture (there is no invocation scope to wait for)', async () => {
    const captured: unknown[] = []
    await decryptEnv({
      fetchData: { dbPassword: 'DB_PASSWORD' },
      awsClientCapture: (client) => {
        captured.push(client)
        return client
      },
    })
    expect(captured).toHaveLength(1)
    expect(captured[0]).toBeInstanceOf(KMSClient)
  })

  it('resolves to {} for an empty fetchData without calling KMS', async () => {
    expect(await decryptEnv({ fetchData: {} })).toEqual({})
    expect(await decryptEnv()).toEqual({})
    expect(kms.commandCalls(DecryptCommand)).toHaveLength(0)
  })
})

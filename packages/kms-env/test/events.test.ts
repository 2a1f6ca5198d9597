import diagnostics from 'node:diagnostics_channel'
import { EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import middy from '@middy/core'
import { clearCache } from '@middy/util'
import { type KmsEndpoint, startKms } from '@rdskit/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type DecryptEvent, decryptChannelName, decryptEnv, kmsEnv } from '../src/index.ts'
import { lambdaContext, rejection, setEnv } from './helpers.ts'

const password = 'pw-Δ-never-in-an-event'
const token = 'tok_4f1c9e-never-in-an-event'
let kms: KmsEndpoint
let client: KMSClientConfig
let restoreEnv: () => void
const ciphertexts: Record<string, string> = {}
const stages = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const
type Seen = { stage: string; event: DecryptEvent }
let seen: Seen[]
let settled: Promise<void>
let handlers: Record<string, (message: unknown) => void>

beforeAll(async () => {
  kms = await startKms({ aliases: ['alias/orders'] })
  client = { endpoint: kms.url, region: kms.region, credentials: kms.credentials }
  const encrypter = new KMSClient(client)
  for (const [name, value] of Object.entries({ DB_PASSWORD: password, API_TOKEN: token })) {
    const { CiphertextBlob } = await encrypter.send(
      new EncryptCommand({
        KeyId: 'alias/orders',
        Plaintext: new TextEncoder().encode(value),
        EncryptionContext: { LambdaFunctionName: 'orders-api' },
      }),
    )
    ciphertexts[name] = Buffer.from(CiphertextBlob as Uint8Array).toString('base64')
  }
})
afterAll(() => kms.stop())

beforeEach(() => {
  restoreEnv = setEnv({ AWS_LAMBDA_FUNCTION_NAME: 'orders-api', ...ciphertexts })
  seen = []
  let done: () => void = () => {}
  settled = new Promise((resolve) => {
    done = resolve
  })
  handlers = Object.fromEntries(
    stages.map((stage) => [
      stage,
      (message: unknown) => {
        seen.push({ stage, event: structuredClone(message as DecryptEvent) })
        if (stage === 'asyncEnd') done()
      },
    ]),
  )
  diagnostics.tracingChannel(decryptChannelName).subscribe(handlers as never)
})
afterEach(() => {
  diagnostics.tracingChannel(decryptChannelName).unsubscribe(handlers as never)
  restoreEnv()
  clearCache()
})

describe('the rdskit:kms-env:decrypt tracing channel', () => {
  it('traces one batch per prefetch with the variable names, keys, key id and count, never a value', async () => {
    const handler = middy()
      .use(
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD', apiToken: 'API_TOKEN' },
          keyId: 'alias/orders',
          awsClientOptions: client,
        }),
      )
      .handler(async (_event, context) => context)
    await settled
    expect(seen.map((s) => s.stage)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
    const { event } = seen.at(-1) as Seen
    expect(event).toMatchObject({
      version: 1,
      keys: ['dbPassword', 'apiToken'],
      variables: ['DB_PASSWORD', 'API_TOKEN'],
      keyIds: ['alias/orders'],
      count: 2,
    })
    expect(event.durationMs).toBeGreaterThan(0)
    // A warm invocation decrypts nothing: no second batch.
    await handler({}, lambdaContext())
    await handler({}, lambdaContext())
    expect(seen.filter((s) => s.stage === 'start')).toHaveLength(1)
    const everything = JSON.stringify(seen)
    for (const secret of [password, token, ...Object.values(ciphertexts)])
      expect(everything).not.toContain(secret)
  })

  it('publishes the error stage with the KmsEnvError code and KMS error name when Decrypt fails', async () => {
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'renamed-api'
    await rejection(decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, awsClientOptions: client }))
    await settled
    expect(seen.map((s) => s.stage)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    const { event } = seen.find((s) => s.stage === 'error') as Seen
    expect(event.error).toMatchObject({
      name: 'KmsEnvError',
      code: 'DECRYPT_FAILED',
      kmsError: 'InvalidCiphertextException',
    })
    expect(JSON.stringify(seen)).not.toContain(ciphertexts.DB_PASSWORD)
  })
})

import { EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import middy from '@middy/core'
import { clearCache, getCache } from '@middy/util'
import { type KmsEndpoint, type StalledListener, startKms, startStalledListener } from '@rdskit/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { decryptEnv, type KmsEnvError, kmsEnv } from '../src/index.ts'
import { lambdaContext, rejection, setEnv } from './helpers.ts'

// Time is the subject here: each case asserts the budget was kept (never exceeded by more than the slack a
// busy 2-core machine needs to notice a timer and unwind) and, where it matters, that it was used.
const slack = 400

let kms: KmsEndpoint
let stalled: StalledListener
let client: KMSClientConfig
let ciphertext: string
let restoreEnv: () => void

beforeAll(async () => {
  ;[kms, stalled] = await Promise.all([startKms({ aliases: ['alias/orders'] }), startStalledListener()])
  client = { endpoint: kms.url, region: kms.region, credentials: kms.credentials }
  const sdk = new KMSClient(client)
  const out = await sdk.send(
    new EncryptCommand({
      KeyId: 'alias/orders',
      Plaintext: Buffer.from('s3cret'),
      EncryptionContext: { LambdaFunctionName: 'orders-api' },
    }),
  )
  sdk.destroy()
  ciphertext = Buffer.from(out.CiphertextBlob as Uint8Array).toString('base64')
  kms.clearCalls()
})
afterAll(() => Promise.all([kms.stop(), stalled.stop()]))
beforeEach(() => {
  restoreEnv = setEnv({ AWS_LAMBDA_FUNCTION_NAME: 'orders-api', DB_PASSWORD: ciphertext })
})
afterEach(() => {
  restoreEnv()
  clearCache()
  kms.faults.clear()
  kms.clearCalls()
})

/** The client options of an endpoint on which no TCP connect ever completes (no NAT, no VPC endpoint). */
const noRoute = () => ({ ...client, endpoint: stalled.url })

async function timed<T>(run: () => Promise<T>): Promise<{ error: KmsEnvError; ms: number }> {
  const started = performance.now()
  const error = (await rejection(run)) as unknown as KmsEnvError
  return { error, ms: performance.now() - started }
}

describe('decryptEnv: one budget (`timeout`) for every attempt', () => {
  it('says "no route" when the connect never completes, within the budget', async () => {
    const { error, ms } = await timed(() =>
      decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, timeout: 1200, awsClientOptions: noRoute() }),
    )
    expect(error).toMatchObject({ code: 'DECRYPT_FAILED', kmsError: 'TimeoutError' })
    expect(error.hint).toMatch(/^no route to KMS: no connection to the KMS endpoint completed within 1200 ms/)
    expect(error.hint).toContain('com.amazonaws.us-east-1.kms')
    expect(ms).toBeGreaterThanOrEqual(1200 - 5)
    expect(ms).toBeLessThan(1200 + slack)
  })

  it('says "slow KMS" when KMS accepts the connection but never answers, within the budget', async () => {
    kms.faults.hangNext(10)
    const { error, ms } = await timed(() =>
      decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, timeout: 1200, awsClientOptions: client }),
    )
    expect(error).toMatchObject({ code: 'DECRYPT_FAILED', kmsError: 'TimeoutError' })
    expect(error.hint).toMatch(
      /^slow KMS: the connection to KMS was open but the answer did not come within 1200 ms/,
    )
    expect(error.hint).not.toMatch(/NAT gateway/)
    expect(ms).toBeGreaterThanOrEqual(1200 - 5)
    expect(ms).toBeLessThan(1200 + slack)
  })

  it('says "slow KMS" when every answer is later than the budget (latency fault)', async () => {
    kms.faults.latency(3000)
    const { error, ms } = await timed(() =>
      decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, timeout: 800, awsClientOptions: client }),
    )
    expect(error.hint).toMatch(/^slow KMS/)
    expect(ms).toBeLessThan(800 + slack)
  })

  it('stops the SDK’s retries at the budget: attempts cut short are not sent again', async () => {
    kms.faults.hangNext(10)
    await timed(() =>
      decryptEnv({
        fetchData: { dbPassword: 'DB_PASSWORD' },
        timeout: 700,
        requestTimeout: 300,
        awsClientOptions: client,
      }),
    )
    const sent = kms.calls().length
    // Two attempts fit in 700 ms (300 ms each plus the backoff); the third would start after the deadline.
    expect(sent).toBeGreaterThanOrEqual(1)
    expect(sent).toBeLessThanOrEqual(3)
    // Nothing arrives later: during a decrypt slower than the SDK's backoff, only that decrypt's call shows up.
    kms.faults.clear()
    kms.faults.latency(500)
    await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, awsClientOptions: client })
    expect(kms.calls().length).toBe(sent + 1)
  })

  it('retries a hung attempt within the budget (requestTimeout per attempt) and gets the value', async () => {
    kms.faults.hangNext(1)
    const values = await decryptEnv({
      fetchData: { dbPassword: 'DB_PASSWORD' },
      timeout: 3000,
      requestTimeout: 300,
      awsClientOptions: client,
    })
    expect(values).toEqual({ dbPassword: 's3cret' })
    expect(kms.calls().map((c) => c.status)).toEqual([0, 200])
  })

  it('gets an answer that is slow but inside the budget', async () => {
    kms.faults.latency(300)
    expect(
      await decryptEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, timeout: 2000, awsClientOptions: client }),
    ).toEqual({ dbPassword: 's3cret' })
  })
})

describe('kmsEnv: the invocation’s remaining time minus timeoutMargin bounds the Decrypt', () => {
  it('fails a 3 s invocation before Lambda would kill it when there is no route to KMS', async () => {
    const handler = middy()
      .use(
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD' },
          disablePrefetch: true,
          awsClientOptions: noRoute(),
        }),
      )
      .handler(async () => 'unreachable')
    const { error, ms } = await timed(() => handler({}, lambdaContext('orders-api', 3000)))
    expect(error).toMatchObject({ code: 'DECRYPT_FAILED', kmsError: 'TimeoutError' })
    expect(error.hint).toMatch(/^no route to KMS/)
    // 3000 ms of Lambda time minus the 500 ms default margin: the handler still has time to answer.
    expect(ms).toBeGreaterThanOrEqual(2500 - 50)
    expect(ms).toBeLessThan(2500 + slack)
  })

  it('an invocation waiting for the INIT prefetch stops waiting at its own deadline, and the next retries', async () => {
    kms.faults.hangNext(10)
    // Built at "INIT": the prefetch starts now, with the 20 s budget of no invocation, and hangs.
    const middleware = kmsEnv({
      fetchData: { dbPassword: 'DB_PASSWORD' },
      timeout: 20_000,
      awsClientOptions: client,
    })
    const handler = middy()
      .use(middleware)
      .handler(async (_event, context) => (context as unknown as { ok?: boolean }).ok ?? 'ran')
    const { error, ms } = await timed(() => handler({}, lambdaContext('orders-api', 1500)))
    expect(error).toMatchObject({ code: 'DECRYPT_FAILED', kmsError: 'TimeoutError' })
    expect(error.hint).toMatch(/^slow KMS/)
    // 1500 ms left minus the 500 ms margin: the invocation's deadline replaced the prefetch's.
    expect(ms).toBeGreaterThanOrEqual(1000 - 50)
    expect(ms).toBeLessThan(1000 + slack)
    // The timed-out prefetch left the cache: the next invocation decrypts afresh and succeeds.
    kms.faults.clear()
    expect(await handler({}, lambdaContext('orders-api', 3000))).toBe('ran')
  })

  it('gives the prefetch at INIT its own budget (`timeout`) when no invocation waits for it', async () => {
    const started = performance.now()
    kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, timeout: 600, awsClientOptions: noRoute() })
    const { promise, resolve } = Promise.withResolvers<void>()
    const prefetch = getCache('@rdskit/kms-env') as {
      value: { dbPassword: Promise<unknown> }
    }
    prefetch.value.dbPassword.then(undefined, () => resolve())
    await promise
    const ms = performance.now() - started
    expect(ms).toBeGreaterThanOrEqual(600 - 5)
    expect(ms).toBeLessThan(600 + slack)
  })

  it('a background refresh (cacheExpiry) gets `timeout`, not the time of the invocation that scheduled it', async () => {
    const handler = middy()
      .use(
        kmsEnv({
          fetchData: { dbPassword: 'DB_PASSWORD' },
          cacheExpiry: 200,
          disablePrefetch: true,
          awsClientOptions: client,
        }),
      )
      .handler(async () => 'ran')
    // The invocation creates the cache entry, so Middy's refresh timer later fetches with its (stale) request.
    // 700 ms left: the invocation's own Decrypt fits, and the invocation is long over when the refresh runs.
    expect(await handler({}, lambdaContext('orders-api', 700))).toBe('ran')
    await vi.waitFor(
      () => {
        expect(
          kms.calls().filter((c) => c.operation === 'Decrypt' && c.status === 200).length,
        ).toBeGreaterThan(1)
      },
      { timeout: 5_000, interval: 20 },
    )
  })

  it('fails at once, with its own hint, when the invocation has no time left for a Decrypt', async () => {
    const handler = middy()
      .use(
        kmsEnv({ fetchData: { dbPassword: 'DB_PASSWORD' }, disablePrefetch: true, awsClientOptions: client }),
      )
      .handler(async () => 'unreachable')
    const { error, ms } = await timed(() => handler({}, lambdaContext('orders-api', 400)))
    expect(error.hint).toMatch(/^the invocation had no time left for Decrypt/)
    expect(error.hint).toMatch(/timeoutMargin/)
    expect(ms).toBeLessThan(slack)
    expect(kms.calls()).toHaveLength(0)
  })
})

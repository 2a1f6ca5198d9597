import { DecryptCommand, DescribeKeyCommand, EncryptCommand } from '@aws-sdk/client-kms'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startKms } from '../src/index.ts'
import type { KmsEndpoint } from '../src/kms/types.ts'
import { kmsClient, rejection } from './kms-client.ts'

const plaintext = new TextEncoder().encode('hunter2')
const context = { LambdaFunctionName: 'orders-api' }

let kms: KmsEndpoint
beforeAll(async () => {
  kms = await startKms({ aliases: ['alias/app', 'alias/other'] })
})
afterEach(() => {
  kms.faults.clear()
  kms.clearCalls()
})
afterAll(() => kms.stop())

const encrypt = (keyId = 'alias/app', ctx: Record<string, string> = context, maxAttempts = 3) =>
  kmsClient(kms, { maxAttempts }).send(
    new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: ctx }),
  )

describe('startKms fault injection', () => {
  it('adds the configured latency to every call', async () => {
    await encrypt() // warm the connection so the measurement is the latency, not a TCP handshake
    kms.faults.latency(120)
    const started = performance.now()
    await encrypt()
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(115)
    expect(elapsed).toBeLessThan(1000)
  })

  it('takes an initial latency from the start options', async () => {
    const slow = await startKms({ aliases: ['alias/slow'], latencyMs: 80 })
    try {
      const client = kmsClient(slow)
      const started = performance.now()
      await client.send(new DescribeKeyCommand({ KeyId: 'alias/slow' }))
      expect(performance.now() - started).toBeGreaterThanOrEqual(75)
    } finally {
      await slow.stop()
    }
  })

  it('throttles the next N calls, and the SDK retries until it succeeds when N is below its max attempts', async () => {
    kms.faults.throttleNext(2)
    const out = await encrypt()
    expect(out.CiphertextBlob).toBeInstanceOf(Uint8Array)
    expect(out.$metadata.attempts).toBe(3)
    expect(kms.calls().map((c) => [c.status, c.errorType])).toEqual([
      [400, 'ThrottlingException'],
      [400, 'ThrottlingException'],
      [200, undefined],
    ])
  })

  it('fails with ThrottlingException once the throttled calls outnumber the SDK attempts', async () => {
    kms.faults.throttleNext(3)
    const error = await rejection(encrypt())
    expect(error.name).toBe('ThrottlingException')
    expect(kms.calls()).toHaveLength(3)
    expect((await encrypt()).CiphertextBlob).toBeInstanceOf(Uint8Array)
  })

  it('answers the next N calls with a 5xx KMSInternalException, which the SDK retries', async () => {
    kms.faults.failNext(1)
    const out = await encrypt()
    expect(out.$metadata.attempts).toBe(2)
    expect(kms.calls()[0]).toMatchObject({ status: 500, errorType: 'KMSInternalException' })
  })

  it('answers with the chosen 5xx status', async () => {
    kms.faults.failNext(1, 503)
    const error = await rejection(encrypt('alias/app', context, 1))
    expect(error.name).toBe('KMSInternalException')
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(503)
  })

  it('denies every call on a key named by alias, ARN or id with AccessDeniedException, and only that key', async () => {
    const blob = (await encrypt()).CiphertextBlob
    const app = kms.keys().find((k) => k.aliases.includes('alias/app'))
    kms.faults.denyKey('alias/app')
    for (const ref of ['alias/app', app?.arn, app?.keyId]) {
      const error = await rejection(encrypt(ref))
      expect(error.name).toBe('AccessDeniedException')
    }
    const decryptError = await rejection(
      kmsClient(kms).send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })),
    )
    expect(decryptError.name).toBe('AccessDeniedException')
    expect((decryptError.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400)
    expect((await encrypt('alias/other')).CiphertextBlob).toBeInstanceOf(Uint8Array)
  })

  it('denies calls whose encryption context contains the given pairs, and no others', async () => {
    kms.faults.denyContext({ LambdaFunctionName: 'orders-api' })
    expect((await rejection(encrypt())).name).toBe('AccessDeniedException')
    expect((await rejection(encrypt('alias/app', { ...context, extra: 'y' }))).name).toBe(
      'AccessDeniedException',
    )
    expect((await encrypt('alias/app', { LambdaFunctionName: 'billing' })).CiphertextBlob).toBeInstanceOf(
      Uint8Array,
    )
    expect((await encrypt('alias/app', {})).CiphertextBlob).toBeInstanceOf(Uint8Array)
  })

  it('never answers the next N calls, so the SDK times out by its requestHandler timeout', async () => {
    kms.faults.hangNext(1)
    const client = kmsClient(kms, {
      maxAttempts: 1,
      requestHandler: { requestTimeout: 300, throwOnRequestTimeout: true },
    })
    const started = performance.now()
    const error = await rejection(
      client.send(new EncryptCommand({ KeyId: 'alias/app', Plaintext: plaintext })),
    )
    const elapsed = performance.now() - started
    expect(error.name).toBe('TimeoutError')
    expect(elapsed).toBeGreaterThanOrEqual(290)
    expect(elapsed).toBeLessThan(2000)
    expect(kms.calls()).toMatchObject([{ operation: 'Encrypt', status: 0, errorType: undefined }])
    // the next call is answered again
    expect((await encrypt()).CiphertextBlob).toBeInstanceOf(Uint8Array)
  })

  it('clear() removes every fault', async () => {
    kms.faults.latency(3000)
    kms.faults.throttleNext(5)
    kms.faults.denyKey('alias/app')
    kms.faults.clear()
    const started = performance.now()
    const out = await encrypt()
    expect(out.$metadata.attempts).toBe(1)
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('rejects nonsense fault arguments', () => {
    expect(() => kms.faults.throttleNext(-1)).toThrow(/non-negative integer/)
    expect(() => kms.faults.failNext(1, 404)).toThrow(/5xx/)
    expect(() => kms.faults.latency(Number.NaN)).toThrow(/latency/)
  })

  it('stops promptly even while a call hangs', async () => {
    const endpoint = await startKms({ aliases: ['alias/x'] })
    endpoint.faults.hangNext(1)
    const pending = rejection(
      kmsClient(endpoint, { maxAttempts: 1 }).send(new DescribeKeyCommand({ KeyId: 'alias/x' })),
    )
    // The call reached the endpoint and hangs there.
    await expect.poll(() => endpoint.calls().length).toBe(1)
    const started = performance.now()
    await endpoint.stop()
    expect(performance.now() - started).toBeLessThan(1500)
    expect((await pending).name).toMatch(/TimeoutError|Error/)
  })
})

describe('startKms lifecycle', () => {
  it('listens on 127.0.0.1 on a free port by default, or on the port asked for', async () => {
    const [a, b] = await Promise.all([startKms(), startKms()])
    const port = Number(new URL(b.url).port)
    await b.stop()
    const pinned = await startKms({ port })
    try {
      expect(a.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(a.url).not.toBe(pinned.url)
      expect(pinned.url).toBe(`http://127.0.0.1:${port}`)
      expect(
        (await kmsClient(pinned).send(new DescribeKeyCommand({ KeyId: (await pinned.createKey()).keyId })))
          .KeyMetadata?.Enabled,
      ).toBe(true)
    } finally {
      await Promise.all([a.stop(), pinned.stop()])
    }
  })

  it('never keeps a process alive: a script that forgets stop() still exits', async () => {
    const { execFile } = await import('node:child_process')
    const server = new URL('../src/index.ts', import.meta.url).pathname
    const client = import.meta.resolve('@aws-sdk/client-kms')
    const script = `
      import { startKms } from ${JSON.stringify(server)}
      import { KMSClient, EncryptCommand } from ${JSON.stringify(client)}
      const kms = await startKms({ aliases: ['alias/a'] })
      const c = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials })
      await c.send(new EncryptCommand({ KeyId: 'alias/a', Plaintext: new Uint8Array([1]) }))
      console.log('done')
    `
    const started = performance.now()
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 20_000 }, (error, out) =>
        error ? reject(error) : resolve(out),
      )
    })
    expect(stdout.trim()).toBe('done')
    // It exits on its own (a kept-alive process would run into the 20 s timeout above).
    expect(performance.now() - started).toBeLessThan(15_000)
  })
})

import { KMSClient } from '@aws-sdk/client-kms'
import type { SSMClient } from '@aws-sdk/client-ssm'
import middy from '@middy/core'
import ssm from '@middy/ssm'
import { clearCache, getInternal } from '@middy/util'
import { Bench } from 'tinybench'
import { kmsEnv } from '../src/index.ts'
import { lambdaContext, type Row } from './shared.ts'

const keys = Array.from({ length: 10 }, (_, i) => `secret${i}`)

/** Answers every Decrypt at once; the warm path never calls it anyway. */
class InstantKms extends KMSClient {
  override send = (() => Promise.resolve({ Plaintext: new TextEncoder().encode('value') })) as never
}

/** Answers GetParameters at once with every requested name. */
class InstantSsm {
  send(command: { input: { Names: string[] } }) {
    return Promise.resolve({
      Parameters: command.input.Names.map((Name) => ({ Name, Value: 'value', Type: 'SecureString' })),
      InvalidParameters: [],
    })
  }
}

type Handler = (event: unknown, context: unknown) => Promise<unknown>

/**
 * Warm invocations: the per-invocation cost of kmsEnv with 10 cached keys, next to a bare middy handler
 * and @middy/ssm with 10 cached parameters. Both middlewares are read the two ways a handler reads them:
 * `getInternal` of all keys, and `setToContext`.
 */
export async function warm(): Promise<Row[]> {
  process.env.AWS_LAMBDA_FUNCTION_NAME = 'bench-fn'
  for (const key of keys) process.env[key.toUpperCase()] = Buffer.from(`ciphertext-${key}`).toString('base64')
  const context = lambdaContext('bench-fn') as object
  const kmsFetch = Object.fromEntries(keys.map((k) => [k, k.toUpperCase()]))
  const ssmFetch = Object.fromEntries(keys.map((k) => [k, `/bench/${k}`]))

  const readAll = async (request: { internal: Record<string, unknown> }) => {
    await getInternal(keys, request as never)
  }
  const handlers: Array<[string, Handler]> = [
    ['bare middy', middy().handler(async () => 'ok') as Handler],
    [
      'kmsEnv 10 keys + getInternal',
      middy()
        .use(kmsEnv({ fetchData: kmsFetch, AwsClient: InstantKms, cacheKey: 'bench-kms' }))
        .before(readAll)
        .handler(async () => 'ok') as unknown as Handler,
    ],
    [
      '@middy/ssm 10 params + getInternal',
      middy()
        .use(
          ssm({
            fetchData: ssmFetch,
            AwsClient: InstantSsm as unknown as typeof SSMClient,
            cacheKey: 'bench-ssm',
          }),
        )
        .before(readAll)
        .handler(async () => 'ok') as unknown as Handler,
    ],
    [
      'kmsEnv 10 keys, setToContext',
      middy()
        .use(
          kmsEnv({
            fetchData: kmsFetch,
            AwsClient: InstantKms,
            cacheKey: 'bench-kms-ctx',
            setToContext: true,
          }),
        )
        .handler(async () => 'ok') as unknown as Handler,
    ],
    [
      '@middy/ssm 10 params, setToContext',
      middy()
        .use(
          ssm({
            fetchData: ssmFetch,
            AwsClient: InstantSsm as unknown as typeof SSMClient,
            cacheKey: 'bench-ssm-ctx',
            setToContext: true,
          }),
        )
        .handler(async () => 'ok') as unknown as Handler,
    ],
  ]
  // First (cold) invocation fills the caches; everything measured below is warm.
  for (const [, handler] of handlers) await handler({}, { ...context })

  const bench = new Bench({ time: 700, warmupTime: 150 })
  for (const [name, handler] of handlers) bench.add(name, () => handler({}, { ...context }))
  await bench.run()
  clearCache()
  return bench.tasks.map((task) => {
    const result = task.result as { latency: { mean: number; p50: number; p99: number } }
    return { name: task.name, mean: result.latency.mean, p50: result.latency.p50, p99: result.latency.p99 }
  })
}

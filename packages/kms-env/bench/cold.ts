import { DecryptCommand, EncryptCommand, KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms'
import middy from '@middy/core'
import { clearCache } from '@middy/util'
import { Bench } from 'tinybench'
import { kmsEnv } from '../src/index.ts'
import { startKmsThread } from './kms-thread.ts'
import { lambdaContext, type Row } from './shared.ts'

const variables = Array.from({ length: 10 }, (_, i) => `SECRET_${i}`)
const functionName = 'bench-fn'
const latencyMs = 25

/**
 * Cold start: 10 variables, a KMS endpoint answering after 25 ms. Each iteration is a new container:
 * a new client (new connections) and an empty cache, timed from module load to the first response.
 */
export async function cold(): Promise<Row[]> {
  const kms = await startKmsThread()
  const config: KMSClientConfig = { endpoint: kms.url, region: kms.region, credentials: kms.credentials }
  const setup = new KMSClient(config)
  for (const name of variables) {
    const out = await setup.send(
      new EncryptCommand({
        KeyId: 'alias/bench',
        Plaintext: new TextEncoder().encode(`secret value of ${name}`),
        EncryptionContext: { LambdaFunctionName: functionName },
      }),
    )
    process.env[name] = Buffer.from(out.CiphertextBlob as Uint8Array).toString('base64')
  }
  process.env.AWS_LAMBDA_FUNCTION_NAME = functionName
  await kms.latency(latencyMs)

  const bench = new Bench({ iterations: 20, time: 0, warmupIterations: 3 })
  bench.add('one Decrypt round trip (new client)', async () => {
    const client = new KMSClient(config)
    await client.send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(process.env.SECRET_0 as string, 'base64'),
        EncryptionContext: { LambdaFunctionName: functionName },
      }),
    )
    client.destroy()
  })
  bench.add('kmsEnv: prefetch at module load, 10 vars', async () => {
    clearCache()
    // Module load: building the middleware starts every Decrypt.
    const handler = middy()
      .use(kmsEnv({ fetchData: Object.fromEntries(variables.map((v) => [v, v])), awsClientOptions: config }))
      .handler(async () => 'ok')
    await handler({}, lambdaContext(functionName))
  })
  bench.add('console sample: lazy, sequential, 10 vars', async () => {
    // The Lambda console's Node snippet, repeated per variable: decrypt on the first invocation, one at a time.
    const client = new KMSClient(config)
    const decrypted: Record<string, string> = {}
    const handler = async () => {
      for (const name of variables) {
        if (decrypted[name]) continue
        const data = await client.send(
          new DecryptCommand({
            CiphertextBlob: Buffer.from(process.env[name] as string, 'base64'),
            EncryptionContext: { LambdaFunctionName: functionName },
          }),
        )
        decrypted[name] = Buffer.from(data.Plaintext as Uint8Array).toString('ascii')
      }
      return 'ok'
    }
    await handler()
    client.destroy()
  })
  await bench.run()
  await kms.stop()
  return bench.tasks.map((task) => {
    const result = task.result as { latency: { mean: number; p50: number; p99: number } }
    return { name: task.name, mean: result.latency.mean, p50: result.latency.p50, p99: result.latency.p99 }
  })
}

import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { apiBundleBudget } from '../scripts/bundle.ts'
import type { AppHandler } from '../src/app.ts'
import { functionName, invoker, type Provisioned, provision, sharedCa } from './support/harness.ts'
import { synth } from './support/synth.ts'

/**
 * The artifact CDK deploys (NodejsFunction's asset from `cdk synth`, not a re-build), imported as Lambda
 * would import it with the environment the stack sets, and invoked with an API Gateway v2 event.
 */
let file: string
let env: Provisioned
let invoke: ReturnType<typeof invoker>
const saved = { ...process.env }

beforeAll(async () => {
  const { template, outdir } = synth({ functionName })
  const api = Object.values(template.findResources('AWS::Lambda::Function')).find(
    (f) => f.Properties.FunctionName === functionName,
  )
  file = join(outdir, `asset.${String(api?.Properties.Code.S3Key).replace('.zip', '')}`, 'index.mjs')
  env = await provision()
  // The test cluster's CA as a file, as the stack points DB_CA_FILE (or Lambda's bundle) at RDS's.
  const caFile = join(outdir, 'test-cluster-ca.pem')
  writeFileSync(caFile, sharedCa() ?? '')
  // What Lambda sets, plus what the stack sets: verify-full against the test cluster's CA.
  Object.assign(process.env, {
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_REGION: env.kms.region,
    AWS_ACCESS_KEY_ID: env.kms.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.kms.credentials.secretAccessKey,
    AWS_ENDPOINT_URL_KMS: env.kms.url,
    DB_HOST: env.database.host,
    DB_PORT: String(env.database.port),
    DB_NAME: env.database.database,
    DB_USER: env.role,
    DB_PASSWORD: env.ciphertext,
    DB_TLS: 'verify-full',
    DB_CA_FILE: caFile,
    POWERTOOLS_LOG_LEVEL: 'WARN',
  })
  delete process.env.AWS_SESSION_TOKEN
  delete process.env.AWS_PROFILE
  invoke = invoker(((await import(pathToFileURL(file).href)) as { handler: AppHandler }).handler)
}, 300_000) // two esbuild bundles: seconds on an idle machine, minutes when other suites share the cores

afterAll(async () => {
  process.env = saved
  await env?.kms.stop()
})

test('the deployed bundle is one ESM file with the createRequire banner, within its size budget', () => {
  const code = readFileSync(file, 'utf8')
  expect(
    code.startsWith(
      "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
    ),
  ).toBe(true)
  expect(statSync(file).size).toBeLessThanOrEqual(apiBundleBudget)
  // The AWS SDK KMS client is inside, not left to the runtime.
  expect(code).toContain('TrentService')
})

test('imported as Lambda imports it, it decrypts the password through KMS and serves the routes', async () => {
  const created = await invoke('POST', '/notes', { body: { title: 'from the bundle', tags: ['bundle'] } })
  expect(created.status).toBe(201)
  expect(created.headers.etag).toBe('"1"')
  const read = await invoke('GET', `/notes/${created.json.id}`)
  expect(read).toMatchObject({ status: 200, json: { title: 'from the bundle', tags: ['bundle'] } })
  expect((await invoke('GET', '/health')).status).toBe(200)
  const bad = await invoke('GET', '/notes?limit=0')
  expect(bad.status).toBe(400)
  expect(bad.json.errors?.[0]?.field).toBe('query.limit')
  const decrypts = env.kms.calls().filter((c) => c.operation === 'Decrypt')
  expect(decrypts).toHaveLength(1)
  expect(decrypts[0]?.encryptionContext).toEqual({ LambdaFunctionName: functionName })
})

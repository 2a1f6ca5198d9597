/**
 * One benchmark subject in its own process, so the load generator and the server do not share a thread.
 *   node bench/child.ts serve <bundle>   → prints the URL, serves until killed
 *   node bench/child.ts cold <bundle> <path>  → imports the bundle, answers one GET, prints the timings
 * The environment (database, KMS endpoint, ciphertext) comes from bench/run.ts.
 */
import { pathToFileURL } from 'node:url'
import { startLocalApi } from '../src/local/adapter.ts'
import { lambdaContext, toEventV2 } from '../src/local/events.ts'

type Handler = Parameters<typeof startLocalApi>[0]['handler']
const [mode, bundle, path] = process.argv.slice(2)
if (!bundle) throw new Error('usage: node bench/child.ts serve|cold <bundle> [path]')

if (mode === 'serve') {
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Handler }
  const api = await startLocalApi({ handler, port: 0 })
  // The URL goes to stderr: stdout (the access log) is /dev/null, as cheap as Lambda's log pipe.
  process.stderr.write(`listening ${api.url}\n`)
  process.on('SIGTERM', () => api.close().then(() => process.exit(0)))
} else {
  const started = performance.now()
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Handler }
  const imported = performance.now()
  const event = toEventV2(
    {
      method: 'GET',
      url: path ?? '/',
      headers: { host: 'bench' },
      body: Buffer.alloc(0),
      sourceIp: '127.0.0.1',
    },
    { accountId: '123456789012', apiId: 'bench', stage: '$default' },
  )
  const context = lambdaContext({
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'bench',
    region: 'us-east-1',
    accountId: '123456789012',
    memoryLimitInMB: 1024,
    timeoutMs: 15_000,
  })
  const result = (await handler(event, context)) as { statusCode?: number }
  const answered = performance.now()
  process.stdout.write(
    `${JSON.stringify({ status: result.statusCode, importMs: imported - started, totalMs: answered - started })}\n`,
  )
  process.exit(0)
}

/**
 * One benchmark subject in its own process, so the load generator and the server do not share a thread.
 *   node bench/child.ts serve <bundle>   → prints the URL, serves until killed
 *   node bench/child.ts cold <bundle> <path>  → imports the bundle, answers one GET (then a second), prints
 *     the timings
 *   node bench/child.ts import <bundle>  → imports a bundle (one dependency), prints the time
 * The environment (database, KMS endpoint, ciphertext) comes from bench/run.ts.
 */
import { pathToFileURL } from 'node:url'
import type { LambdaHandler as Handler } from '../src/local/adapter.ts'

const [mode, bundle, path] = process.argv.slice(2)
if (!bundle) throw new Error('usage: node bench/child.ts serve|cold <bundle> [path]')

if (mode === 'serve') {
  const { startLocalApi } = await import('../src/local/adapter.ts')
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Handler }
  const api = await startLocalApi({ handler, port: 0 })
  // The URL goes to stderr: stdout (the access log) is /dev/null, as cheap as Lambda's log pipe.
  process.stderr.write(`listening ${api.url}\n`)
  process.on('SIGTERM', () => api.close().then(() => process.exit(0)))
} else if (mode === 'import') {
  const started = performance.now()
  await import(pathToFileURL(bundle).href)
  process.stdout.write(`${JSON.stringify({ status: 0, importMs: performance.now() - started })}\n`)
  process.exit(0)
} else {
  const started = performance.now()
  const { handler } = (await import(pathToFileURL(bundle).href)) as { handler: Handler }
  const imported = performance.now()
  // Loaded after the import is timed: nothing of the harness (node:http, crypto…) is preloaded for the
  // bundle, as in a fresh Lambda sandbox; building the event is the runtime's work, not the handler's.
  const { lambdaContext, toEventV2 } = await import('../src/local/events.ts')
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
  const before = performance.now()
  const result = (await handler(event, context)) as { statusCode?: number }
  const answered = performance.now()
  // A second request: the warm cost, so first − second is what the cold path adds (KMS, connection).
  const again = await handler({ ...event, headers: { ...event.headers } }, context)
  const warmMs = performance.now() - answered
  process.stdout.write(
    `${JSON.stringify({
      status: result.statusCode,
      secondStatus: (again as { statusCode?: number }).statusCode,
      importMs: imported - started,
      firstMs: answered - before,
      warmMs,
      totalMs: imported - started + (answered - before),
    })}\n`,
  )
  process.exit(0)
}

// Warm-invocation overhead of the observability events: `node bench/events.ts`. One Middy handler with rds()
// running `select 1` through drizzle, against a real PostgreSQL (TLS verify-full, SCRAM), measured with no
// subscriber, with the Powertools adapter (Logger, Metrics flushed per invocation, Tracer sending X-Ray
// subsegments to a local UDP sink) and with the OpenTelemetry adapter (spans to an exporter that drops them).
// The X-Ray SDK is loaded for every row (as in a function with active tracing): it hooks every promise.
// EVENTS_BENCH_TIME_MS (default 1500) and EVENTS_BENCH_ROUNDS (default 5) shrink it for a smoke run.
import { Console } from 'node:console'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import diagnostics from 'node:diagnostics_channel'
import { openSync, writeSync } from 'node:fs'
import { Writable } from 'node:stream'
import middy, { type MiddlewareObj } from '@middy/core'
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { startPostgres } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
import { Bench } from 'tinybench'
import { channelNames } from '../src/events/channels.ts'
import { querySucceeded, startQuery } from '../src/events/publish.ts'
import { close, rds } from '../src/index.ts'

const timeMs = Number(process.env.EVENTS_BENCH_TIME_MS ?? 1500)
const rounds = Number(process.env.EVENTS_BENCH_ROUNDS ?? 5)

// X-Ray: the SDK reads the daemon address and the Lambda environment when it loads; a UDP socket that
// reads and drops stands in for the daemon.
const daemon = createSocket('udp4').on('message', () => {})
await new Promise<void>((resolve) => daemon.bind(0, '127.0.0.1', resolve))
Object.assign(process.env, {
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  LAMBDA_TASK_ROOT: '/var/task',
  AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
  AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  _X_AMZN_TRACE_ID: 'Root=1-6760b0c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1',
})
const { Logger } = await import('@aws-lambda-powertools/logger')
const { Metrics } = await import('@aws-lambda-powertools/metrics')
const { logMetrics } = await import('@aws-lambda-powertools/metrics/middleware')
const { Tracer } = await import('@aws-lambda-powertools/tracer')
const { rdsPowertools } = await import('../src/powertools/index.ts')
const { subscribeOpenTelemetry } = await import('../src/otel/index.ts')

/** Powertools writes through a console of its own (a protected field): pointed at /dev/null, synchronously. */
const devNull = openSync('/dev/null', 'w')
const sink = new Writable({
  write(chunk, _encoding, callback) {
    writeSync(devNull, chunk as Buffer)
    callback()
  },
})
const silenced = <T extends object>(utility: T): T =>
  Object.assign(utility, { console: new Console({ stdout: sink, stderr: sink }) })

const dropSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} }

const role = { name: 'bench_events', password: `pw-${randomBytes(12).toString('hex')}` }
const cluster = await startPostgres({ tls: true, roles: [role] })
const context = () => ({ getRemainingTimeInMillis: () => 30_000 }) as never

let keys = 0
const handlerWith = (...before: MiddlewareObj[]) => {
  let stack = middy()
  for (const middleware of before) stack = stack.use(middleware)
  const handler = stack
    .use(
      rds({
        config: {
          host: cluster.host,
          port: cluster.port,
          database: cluster.database,
          username: role.name,
          password: role.password,
        },
        tls: { ca: cluster.ca as string },
        cacheKey: `bench-events-${++keys}`,
        logger: { warn() {} },
      }),
    )
    .handler(async (_event, ctx) => ctx.db.execute(sql`select 1`))
  return () => handler({}, context())
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

try {
  // Each row subscribes only while it runs: subscriptions are process-wide.
  const rows: Array<{ name: string; setup: () => { run: () => Promise<unknown>; stop: () => void } }> = [
    { name: 'no subscriber', setup: () => ({ run: handlerWith(), stop: () => {} }) },
    {
      name: 'Powertools adapter (Logger, Metrics, Tracer)',
      setup: () => {
        const logger = silenced(new Logger({ serviceName: 'bench', logLevel: 'INFO' }))
        const metrics = silenced(new Metrics({ serviceName: 'bench', namespace: 'bench' }))
        const tracer = new Tracer({ serviceName: 'bench' })
        const observe = rdsPowertools({ logger, metrics, tracer })
        // logMetrics flushes every invocation; a ColdStart-free set with one metric keeps it from warning.
        const count: MiddlewareObj = { before: () => void metrics.addMetric('Invocations', 'Count', 1) }
        return { run: handlerWith(logMetrics(metrics), count, observe), stop: observe.unsubscribe }
      },
    },
    {
      name: 'Powertools adapter without a Tracer (Logger, Metrics)',
      setup: () => {
        const logger = silenced(new Logger({ serviceName: 'bench', logLevel: 'INFO' }))
        const metrics = silenced(new Metrics({ serviceName: 'bench', namespace: 'bench' }))
        const observe = rdsPowertools({ logger, metrics })
        const count: MiddlewareObj = { before: () => void metrics.addMetric('Invocations', 'Count', 1) }
        return { run: handlerWith(logMetrics(metrics), count, observe), stop: observe.unsubscribe }
      },
    },
    {
      name: 'Powertools utilities alone, no Tracer (logMetrics)',
      setup: () => {
        const metrics = silenced(new Metrics({ serviceName: 'bench', namespace: 'bench' }))
        const count: MiddlewareObj = { before: () => void metrics.addMetric('Invocations', 'Count', 1) }
        return { run: handlerWith(logMetrics(metrics), count), stop: () => {} }
      },
    },
    {
      name: 'Powertools utilities alone (logMetrics, Tracer; no adapter)',
      setup: () => {
        const metrics = silenced(new Metrics({ serviceName: 'bench', namespace: 'bench' }))
        new Tracer({ serviceName: 'bench' })
        const count: MiddlewareObj = { before: () => void metrics.addMetric('Invocations', 'Count', 1) }
        return { run: handlerWith(logMetrics(metrics), count), stop: () => {} }
      },
    },
    {
      name: 'OpenTelemetry adapter (spans dropped by the exporter)',
      setup: () => {
        const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(dropSpans)] })
        return { run: handlerWith(), stop: subscribeOpenTelemetry({ tracer: provider.getTracer('bench') }) }
      },
    },
  ]
  const samples = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    for (const row of [...rows].sort(() => Math.random() - 0.5)) {
      const { run, stop } = row.setup()
      await run() // connect outside the measurement: warm invocations only
      const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs / 4) })
      bench.add(row.name, run)
      await bench.run()
      stop()
      const mean = (bench.tasks[0]?.result as { latency?: { mean: number } } | undefined)?.latency?.mean
      samples.set(row.name, [...(samples.get(row.name) ?? []), mean ?? Number.NaN])
    }
  }
  const base = median(samples.get('no subscriber') ?? [])
  const guards = await unobservedGuardsNs()
  const observed = await observedPublishNs()
  console.log(`\n## Warm invocation with events (median of ${rounds} rounds, ${timeMs} ms each)\n`)
  console.log('| | µs per invocation | overhead |')
  console.log('|---|---:|---:|')
  for (const row of rows) {
    const value = median(samples.get(row.name) ?? [])
    const overhead = row.name === 'no subscriber' ? '' : `${((value - base) * 1000).toFixed(1)} µs`
    console.log(`| ${row.name} | ${(value * 1000).toFixed(1)} | ${overhead} |`)
  }
  const share = (guards / (base * 1e6)) * 100
  console.log(
    `\nunobserved events: the publish guards of one warm invocation (startQuery + querySucceeded, nobody subscribed) cost ${guards.toFixed(1)} ns: ${share.toFixed(4)} % of the invocation`,
  )
  console.log(
    `observed events: publishing one statement's events to a subscriber of its settled stage costs ${observed.toFixed(0)} ns (payload, sanitised text from the cache, four stages), timed alone`,
  )
} finally {
  await close()
  await cluster.stop()
  daemon.close()
}

/**
 * What publishing costs once somebody listens (as the adapters do without a tracer: the settled stage only).
 * Each statement's payload stays in flight while others are published and garbage is made, as during its
 * I/O, so the young-generation GC sees it alive; the loop's own allocations are timed apart and subtracted.
 */
async function observedPublishNs(): Promise<number> {
  const target = { host: 'h', port: 5432, database: 'd', user: 'u', pooler: false }
  const settled = diagnostics.tracingChannel(channelNames.query).asyncEnd
  const listener = () => {}
  const inFlight: unknown[] = []
  let garbage: unknown[] = []
  const statement = (publish: boolean) => () => {
    if (publish) inFlight.push(startQuery(target, 'select "id" from "notes" where "id" = $1'))
    for (let i = 0; i < 60; i++) garbage.push({ i, pair: [i, i] })
    if (garbage.length > 6000) garbage = []
    if (publish && inFlight.length > 4) querySucceeded(inFlight.shift() as never, 1)
  }
  settled.subscribe(listener)
  try {
    const bench = new Bench({ time: 500, warmupTime: 100 })
    bench.add('published', statement(true))
    bench.add('loop only', statement(false))
    await bench.run()
    const [published, loop] = bench.tasks.map(
      (task) => (task.result as { latency?: { mean: number } } | undefined)?.latency?.mean ?? Number.NaN,
    )
    return ((published as number) - (loop as number)) * 1e6
  } finally {
    settled.unsubscribe(listener)
  }
}

/**
 * What an unobserved warm invocation pays for the events: the query event's guards (a `hasSubscribers` read
 * that returns before building anything, and the settle that finds no payload). Timed alone, since a few ns
 * vanish in the noise of a 150–300 µs invocation.
 */
async function unobservedGuardsNs(): Promise<number> {
  const target = { host: 'h', port: 5432, database: 'd', user: 'u', pooler: false }
  const bench = new Bench({ time: 500, warmupTime: 100 })
  bench.add('guards', () => querySucceeded(startQuery(target, 'select 1'), 1))
  await bench.run()
  const mean = (bench.tasks[0]?.result as { latency?: { mean: number } } | undefined)?.latency?.mean
  return (mean ?? Number.NaN) * 1e6
}

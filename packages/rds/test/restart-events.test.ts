import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { type ReplicatedCluster, startReplicatedCluster } from '@rdskit/testing'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { subscribeOpenTelemetry } from '../src/otel/index.ts'
import { subscribePowertools } from '../src/powertools/index.ts'
import { container, resetAll } from './helpers.ts'
import { parseEmf } from './support/emf.ts'
import { recordEvents } from './support/events.ts'
import { captureStdout } from './support/stdout.ts'

/**
 * A maintenance restart (fast shutdown, down for a moment, back on its port) under a read in flight, seen
 * by a subscriber of the channels, by the Powertools adapter (log lines and EMF) and by the OpenTelemetry
 * adapter. What the observability guide quotes is checked against this real output.
 */
const app = {
  name: `restart_${randomBytes(3).toString('hex')}`,
  password: `pw-${randomBytes(9).toString('hex')}`,
}
let cluster: ReplicatedCluster
const recorder = recordEvents()
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
let stdout: ReturnType<typeof captureStdout> | undefined
const unsubscribes: Array<() => void> = []

beforeAll(async () => {
  cluster = await startReplicatedCluster({ standbys: 1, tls: true, roles: [app] })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
}, 60_000)
afterAll(async () => {
  for (const unsubscribe of unsubscribes) unsubscribe()
  stdout?.restore()
  recorder.stop()
  context.disable()
  await resetAll()
  await cluster?.stop()
})

const containerOn = (writer: { port: number }, applicationName: string) =>
  container(
    {
      config: {
        host: 'localhost',
        port: writer.port,
        database: cluster.database,
        username: app.name,
        password: app.password,
        connection: { application_name: applicationName },
      },
      tls: { ca: cluster.ca as string },
      logger: { warn() {} },
    },
    async (_event, ctx) => (await ctx.db.execute(sql`select ${1}::int as one`))[0]?.one,
  )

describe('a fast restart of the writer', () => {
  it('while the container is idle: the next invocation drops the dead session (freeze, 57P01) and opens a new one', async () => {
    const c = containerOn(cluster.writer(), 'restart-idle')
    expect(await c.invoke()).toBe(1)

    // Subscribed before the restart: the session's end is seen when it happens, between invocations.
    stdout = captureStdout()
    const logger = new Logger({ serviceName: 'orders', logLevel: 'DEBUG' })
    const metrics = new Metrics({ namespace: 'orders', serviceName: 'orders' })
    unsubscribes.push(
      subscribePowertools({ logger, metrics }),
      subscribeOpenTelemetry({ tracer: provider.getTracer('orders') }),
    )
    recorder.clear()
    await cluster.restart({ mode: 'fast', downMs: 200 })
    const invocation = provider.getTracer('orders').startActiveSpan('handler', async (span) => {
      try {
        return await c.invoke()
      } finally {
        span.end()
      }
    })
    expect(await invocation).toBe(1)
    metrics.publishStoredMetrics()
    stdout.restore()
    for (const unsubscribe of unsubscribes.splice(0)) unsubscribe()

    expect(recorder.steps()).toEqual(['freeze/reconnect 57P01'])
    expect(recorder.connects().map((e) => [e.attempt, e.tls, e.error])).toEqual([
      [1, 'verify-full', undefined],
    ])
    expect(recorder.queries().map((q) => [q.statement, q.rowCount, q.error])).toEqual([
      ['select $1::int as one', 1, undefined],
    ])

    const captured = capturedOutput(stdout.lines)
    if (process.env.RDSKIT_PRINT_EXCERPT) console.log(JSON.stringify(captured, null, 2))
    for (const page of ['../../../docs/guide/observability.md', '../../../docs/ja/guide/observability.md']) {
      expectQuoted(readFileSync(new URL(page, import.meta.url), 'utf8'), captured)
    }
  })

  it('while the writer is down: the invocation backs off (restart), reconnects and is served once it is back', async () => {
    const writer = cluster.writer()
    const c = containerOn(writer, 'restart-down')
    expect(await c.invoke()).toBe(1)
    const restarting = cluster.restart({ mode: 'fast', downMs: 500 })
    await vi.waitFor(() => expect(cluster.node(writer.index).role).toBe('down'), {
      timeout: 5_000,
      interval: 5,
    })
    recorder.clear()
    const outcome = await c.invoke({}, 4_000).catch((error: unknown) => error)
    await restarting
    expect(outcome).toBe(1)
    const steps = recorder.steps()
    // The idle session's end (freeze, 57P01) was published when the server closed it, before the clear. Then
    // the shared reconnect, one attempt at a time: a backoff, then a reconnect.
    expect(steps.length).toBeGreaterThanOrEqual(2)
    steps.forEach((step, at) => {
      expect(step).toMatch(at % 2 === 0 ? /^restart\/backoff (ECONNREFUSED|57P03)$/ : /^restart\/reconnect/)
    })
    const connects = recorder.connects()
    expect(connects.map((e) => e.attempt)).toEqual(connects.map((_, at) => at + 1))
    expect(connects.at(-1)?.error).toBeUndefined()
  })
})

/** What the docs quote, from the real output: log lines, EMF documents (validated) and finished spans. */
function capturedOutput(lines: string[]) {
  const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const emf = json.filter((l) => l._aws !== undefined)
  for (const document of emf) parseEmf(JSON.stringify(document))
  const spans = exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: s.kind,
    status: s.status,
    attributes: s.attributes,
    events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
  }))
  return { logs: json.filter((l) => l._aws === undefined), emf, spans }
}

/** The fenced blocks of the page's restart section, in order (`jsonl`: one JSON per line). */
function restartBlocks(page: string): unknown[][] {
  const section = page.split(/\n## /).find((s) => s.includes('<!-- restart-excerpt -->'))
  expect(section, 'the page has a restart section marked <!-- restart-excerpt -->').toBeDefined()
  return [...(section as string).matchAll(/```jsonl?\n([\s\S]*?)```/g)].map((m) =>
    (m[1] as string)
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line)),
  )
}

/** Values that differ from run to run; the page shows real ones, the check skips them. */
const volatile = new Set([
  'timestamp',
  'Timestamp',
  'durationMs',
  'delayMs',
  'port',
  'user',
  'database',
  'host',
])
const volatileAttributes = /duration|delay|Time$|server\.port|db\.namespace|rdskit\.recover\.attempt/

/** `quoted` holds only what `real` holds (volatile values aside): objects by key, arrays by position. */
function matches(quoted: unknown, real: unknown, key = ''): boolean {
  if (volatile.has(key) || volatileAttributes.test(key)) return real !== undefined
  if (Array.isArray(quoted))
    return Array.isArray(real) && quoted.every((q, at) => matches(q, real[at], String(at)))
  if (quoted && typeof quoted === 'object') {
    if (!real || typeof real !== 'object') return false
    return Object.entries(quoted).every(([k, v]) => matches(v, (real as Record<string, unknown>)[k], k))
  }
  return quoted === real
}

/** Each quoted item matches a real one, in the order the real ones came (later items after earlier ones). */
function expectInOrder(quoted: unknown[], real: unknown[], what: string) {
  let from = 0
  for (const item of quoted) {
    const at = real.findIndex((r, index) => index >= from && matches(item, r))
    expect(at, `${what}: ${JSON.stringify(item)} is not in the real output (in this order)`).not.toBe(-1)
    from = at + 1
  }
}

function expectQuoted(page: string, captured: ReturnType<typeof capturedOutput>) {
  const [logs, emf, spans] = restartBlocks(page)
  expect(logs?.length).toBeGreaterThan(0)
  expect(emf?.length).toBeGreaterThan(0)
  expect(spans?.length).toBeGreaterThan(0)
  expectInOrder(logs as unknown[], captured.logs, 'log line')
  // EMF documents: the single metrics (RdsReconnects by reason) flush as they happen, the set at the end.
  for (const document of emf as unknown[]) expectInOrder([document], captured.emf, 'EMF document')
  // Spans finish in their own order (the query's after its connects).
  for (const span of spans as unknown[]) expectInOrder([span], captured.spans, 'span')
  expect(trace.getActiveSpan()).toBeUndefined()
}

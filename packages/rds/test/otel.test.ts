import diagnostics from 'node:diagnostics_channel'
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RdsError } from '../src/errors.ts'
import {
  channelNames,
  connectFailed,
  connectSucceeded,
  publishRecover,
  queryFailed,
  querySucceeded,
  startConnect,
  startQuery,
} from '../src/events/index.ts'
import { subscribeOpenTelemetry } from '../src/otel/index.ts'
import { target } from './fixtures/event-target.ts'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const contextManager = new AsyncLocalStorageContextManager()
let unsubscribe: () => void

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable())
  unsubscribe = subscribeOpenTelemetry({ tracer: provider.getTracer('test') })
})
afterEach(() => exporter.reset())
afterAll(() => {
  unsubscribe()
  context.disable()
})

const spans = () => exporter.getFinishedSpans()
const byName = (name: string) => spans().find((span) => span.name === name)

describe('Function: subscribeOpenTelemetry', () => {
  it('makes a CLIENT span per statement, named by its summary, with the database semantic conventions', () => {
    querySucceeded(startQuery(target, `select "id" from "notes" where "title" = 'hunter2' and "id" = $1`), 1)
    const span = byName('SELECT notes')
    expect(span?.kind).toBe(SpanKind.CLIENT)
    expect(span?.attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.namespace': 'orders',
      'server.address': target.host,
      'server.port': 5432,
      'db.operation.name': 'SELECT',
      'db.query.summary': 'SELECT notes',
      'db.query.text': 'select "id" from "notes" where "title" = ? and "id" = $1',
      'rdskit.read_only': true,
    })
    expect(span?.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('nests the spans under the span active where the statement started', async () => {
    const parent = provider.getTracer('test').startSpan('handler')
    await context.with(trace.setSpan(context.active(), parent), async () => {
      const event = startQuery(target, 'insert into "notes" ("title") values ($1)')
      await Promise.resolve()
      querySucceeded(event, 1)
    })
    parent.end()
    const child = byName('INSERT notes')
    expect(child?.parentSpanContext?.spanId).toBe(parent.spanContext().spanId)
    expect(child?.spanContext().traceId).toBe(parent.spanContext().traceId)
  })

  it('records a failed statement with error.type and db.response.status_code = SQLSTATE, not the driver message', () => {
    const error = Object.assign(new Error('invalid input syntax for type integer: "hunter2"'), {
      name: 'PostgresError',
      code: '22P02',
    })
    queryFailed(startQuery(target, 'select $1::int'), error)
    const span = byName('SELECT')
    expect(span?.attributes).toMatchObject({ 'error.type': '22P02', 'db.response.status_code': '22P02' })
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'PostgresError 22P02' })
    expect(JSON.stringify(span?.attributes)).not.toContain('hunter2')
  })

  it('makes a connect span; a failure carries the SQLSTATE and the RdsError message', () => {
    connectSucceeded(startConnect(target, 1, 'verify-full'))
    const refused = new RdsError(
      'TOO_MANY_CONNECTIONS',
      'PostgreSQL at db:5432 has no free connection slot',
      {
        sqlstate: '53300',
      },
    )
    connectFailed(startConnect(target, 2, 'verify-full'), refused)
    const [ok, failed] = spans().filter((span) => span.name === 'connect orders')
    expect(ok?.attributes).toMatchObject({
      'db.operation.name': 'connect',
      'rdskit.connect.attempt': 1,
      'rdskit.tls': 'verify-full',
    })
    expect(ok?.status.code).toBe(SpanStatusCode.UNSET)
    expect(failed?.attributes).toMatchObject({ 'error.type': '53300', 'db.response.status_code': '53300' })
    expect(failed?.status.message).toContain('no free connection slot')
  })

  it('adds each recovery step as an event on the active span', () => {
    const parent = provider.getTracer('test').startSpan('handler')
    context.with(trace.setSpan(context.active(), parent), () => {
      publishRecover(target, { reason: 'failover', action: 'reconnect', attempt: 1, code: '25006' })
      publishRecover(target, {
        reason: 'exhaustion',
        action: 'backoff',
        attempt: 2,
        code: '53300',
        delayMs: 80,
      })
    })
    parent.end()
    const events = byName('handler')?.events ?? []
    expect(
      events.map((e) => [
        e.name,
        e.attributes?.['rdskit.recover.reason'],
        e.attributes?.['rdskit.recover.action'],
      ]),
    ).toEqual([
      ['rdskit.rds.recover', 'failover', 'reconnect'],
      ['rdskit.rds.recover', 'exhaustion', 'backoff'],
    ])
    expect(events[1]?.attributes).toMatchObject({
      'rdskit.recover.code': '53300',
      'rdskit.recover.delay_ms': 80,
    })
  })

  it('makes a span per kms-env Decrypt batch, subscribed by channel name', () => {
    const channel = diagnostics.tracingChannel(channelNames.decrypt)
    const event = {
      version: 1,
      keys: ['dbPassword'],
      variables: ['DB_PASSWORD'],
      keyIds: ['alias/app'],
      count: 1,
    }
    channel.start.publish(event)
    channel.end.publish(event)
    Object.assign(event, {
      error: { name: 'KmsEnvError', code: 'DECRYPT_FAILED', message: 'Decrypt of DB_PASSWORD failed' },
    })
    channel.error.publish(event)
    channel.asyncStart.publish(event)
    channel.asyncEnd.publish(event)
    const span = byName('KMS Decrypt')
    expect(span?.attributes).toMatchObject({
      'rpc.service': 'KMS',
      'rdskit.kms_env.variables': ['DB_PASSWORD'],
      'error.type': 'DECRYPT_FAILED',
    })
    expect(span?.status.code).toBe(SpanStatusCode.ERROR)
  })

  it('stops making spans once unsubscribed', () => {
    const tracer = provider.getTracer('second')
    const stop = subscribeOpenTelemetry({ tracer })
    stop()
    querySucceeded(startQuery(target, 'select 1'), 1)
    // Only the suite's own subscription made one.
    expect(spans().filter((span) => span.name === 'SELECT')).toHaveLength(1)
  })
})

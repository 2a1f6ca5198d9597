import diagnostics from 'node:diagnostics_channel'
import middy from '@middy/core'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
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
import { target } from './fixtures/event-target.ts'
import { lambdaContext } from './helpers.ts'
import { parseEmf } from './support/emf.ts'
import { captureStdout } from './support/stdout.ts'
import { startXrayDaemon } from './support/xray-daemon.ts'

// The X-Ray SDK reads its daemon address and the Lambda environment when it loads: set them first.
const daemon = await startXrayDaemon()
const traceRoot = '1-6760b0c0-0123456789abcdef01234567'
Object.assign(process.env, {
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
  LAMBDA_TASK_ROOT: '/var/task',
  AWS_XRAY_DAEMON_ADDRESS: daemon.address,
  AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  _X_AMZN_TRACE_ID: `Root=${traceRoot};Parent=53995c3f42cd8ad8;Sampled=1`,
  _HANDLER: 'index.handler',
})
const { Logger } = await import('@aws-lambda-powertools/logger')
const { Metrics } = await import('@aws-lambda-powertools/metrics')
const { Tracer, captureLambdaHandler } = await import('@aws-lambda-powertools/tracer').then(async (m) => ({
  ...m,
  ...(await import('@aws-lambda-powertools/tracer/middleware')),
}))
const { rdsPowertools, subscribePowertools, metricNames } = await import('../src/powertools/index.ts')

const decryptChannel = diagnostics.tracingChannel(channelNames.decrypt)
let stdout: ReturnType<typeof captureStdout>
let unsubscribe: (() => void) | undefined

afterEach(() => {
  unsubscribe?.()
  unsubscribe = undefined
  stdout?.restore()
})
afterAll(() => daemon.stop())

const postgresError = (code: string, value: string) =>
  Object.assign(new Error(`invalid input: "${value}"`), { name: 'PostgresError', code, parameters: [value] })

/** What one invocation with trouble publishes: a refused connect (53300), a backoff, a connect, a freeze reconnect, a timeout. */
function publishTroubledInvocation() {
  connectFailed(startConnect(target, 1, 'verify-full'), postgresError('53300', 'x'))
  publishRecover(target, {
    reason: 'exhaustion',
    action: 'backoff',
    attempt: 1,
    code: '53300',
    delayMs: 42.5,
  })
  connectSucceeded(startConnect(target, 2, 'verify-full'))
  publishRecover(target, { reason: 'freeze', action: 'reconnect', attempt: 1, code: 'ECONNRESET' })
  publishRecover(target, { reason: 'reset', action: 'retry', attempt: 1, code: 'ECONNRESET' })
  queryFailed(startQuery(target, 'select pg_sleep($1)'), postgresError('57014', 'slow'))
  // kms-env publishes this one; the adapter listens by channel name.
  const decrypt = { version: 1, keys: ['dbPassword'], variables: ['DB_PASSWORD'], keyIds: [], count: 1 }
  decryptChannel.start.publish(decrypt)
  decryptChannel.end.publish(decrypt)
  Object.assign(decrypt, { durationMs: 12.34 })
  decryptChannel.asyncStart.publish(decrypt)
  decryptChannel.asyncEnd.publish(decrypt)
}

describe('Function: subscribePowertools', () => {
  describe('Metrics', () => {
    it('emits valid EMF: connects, connect time, 53300s, retries, backoff time, timeouts, decrypt time, with units', () => {
      stdout = captureStdout()
      const metrics = new Metrics({ namespace: 'rdskit-test', serviceName: 'orders' })
      unsubscribe = subscribePowertools({ metrics })
      publishTroubledInvocation()
      metrics.publishStoredMetrics()
      const emitted = stdout.lines.filter((l) => l.includes('"_aws"')).flatMap(parseEmf)
      const find = (name: string) => emitted.filter((m) => m.name === name)
      expect(find(metricNames.connects)).toMatchObject([
        { unit: 'Count', values: [1], namespace: 'rdskit-test' },
      ])
      expect(find(metricNames.connectFailures)).toMatchObject([{ unit: 'Count', values: [1] }])
      expect(find(metricNames.tooManyConnections)).toMatchObject([{ unit: 'Count', values: [1] }])
      expect(find(metricNames.connectTime)[0]).toMatchObject({ unit: 'Milliseconds' })
      expect(find(metricNames.connectTime)[0]?.values[0]).toBeGreaterThanOrEqual(0)
      // A backoff and a retry: two more attempts; the backoff's wait in milliseconds.
      expect(find(metricNames.retries)).toMatchObject([{ unit: 'Count', values: [1, 1] }])
      expect(find(metricNames.backoffTime)).toMatchObject([{ unit: 'Milliseconds', values: [42.5] }])
      expect(find(metricNames.statementTimeouts)).toMatchObject([{ unit: 'Count', values: [1] }])
      expect(find(metricNames.decryptTime)).toMatchObject([{ unit: 'Milliseconds', values: [12.34] }])
      // Reconnects by reason: a metric of its own with the reason as a dimension (plus the service).
      expect(find(metricNames.reconnects)).toMatchObject([
        { unit: 'Count', values: [1], dimensions: { service: 'orders', reason: 'freeze' } },
      ])
      // The invocation's set carries no per-event dimension.
      expect(find(metricNames.connects)[0]?.dimensions).toEqual({ service: 'orders' })
    })
  })

  describe('Subscriptions', () => {
    const stage = (channel: string, name: string) => diagnostics.channel(`tracing:${channel}:${name}`)
    it('listens to the start of connects and statements only with a Tracer, and to nothing once unsubscribed', () => {
      const logger = new Logger({ serviceName: 'orders' })
      const metrics = new Metrics({ namespace: 'rdskit-test', serviceName: 'orders' })
      unsubscribe = subscribePowertools({ logger, metrics })
      for (const channel of [channelNames.query, channelNames.connect]) {
        expect(stage(channel, 'start').hasSubscribers).toBe(false)
        expect(stage(channel, 'asyncEnd').hasSubscribers).toBe(true)
      }
      unsubscribe()
      const tracer = new Tracer({ serviceName: 'orders' })
      unsubscribe = subscribePowertools({ metrics, tracer })
      expect(stage(channelNames.query, 'start').hasSubscribers).toBe(true)
      unsubscribe()
      unsubscribe = undefined
      for (const name of ['start', 'end', 'asyncStart', 'asyncEnd', 'error'])
        expect(stage(channelNames.query, name).hasSubscribers).toBe(false)
    })
  })

  describe('Logger', () => {
    it('writes one structured line per recovery step at a level that fits it, and the failed connect', () => {
      stdout = captureStdout()
      const logger = new Logger({ serviceName: 'orders', logLevel: 'DEBUG' })
      unsubscribe = subscribePowertools({ logger })
      publishTroubledInvocation()
      const lines = stdout.json()
      const recover = lines.filter((l) => (l.rds as { event?: string } | undefined)?.event === 'recover')
      expect(
        recover.map((l) => [
          l.level,
          (l.rds as { reason: string }).reason,
          (l.rds as { action: string }).action,
        ]),
      ).toEqual([
        ['WARN', 'exhaustion', 'backoff'],
        ['INFO', 'freeze', 'reconnect'],
        ['WARN', 'reset', 'retry'],
      ])
      expect(recover[0]).toMatchObject({
        message: 'rds recovery: backoff (exhaustion)',
        service: 'orders',
        rds: { code: '53300', delayMs: 42.5, attempt: 1, host: target.host, database: 'orders', user: 'app' },
      })
      const failed = lines.find((l) => l.message === 'rds connect failed')
      expect(failed).toMatchObject({ level: 'WARN', rds: { error: { code: '53300', sqlstate: '53300' } } })
      expect(lines.find((l) => l.message === 'kms-env decrypted')).toMatchObject({
        level: 'DEBUG',
        kmsEnv: { variables: ['DB_PASSWORD'], count: 1 },
      })
    })

    it('keeps a throwing logger away from the publisher', () => {
      const logger = { debug() {}, info() {}, warn() {}, error() {} }
      logger.info = () => {
        throw new Error('log sink down')
      }
      unsubscribe = subscribePowertools({ logger })
      const warned: unknown[] = []
      const original = console.warn
      console.warn = (...args: unknown[]) => warned.push(args)
      try {
        expect(() =>
          publishRecover(target, { reason: 'freeze', action: 'reconnect', attempt: 1 }),
        ).not.toThrow()
      } finally {
        console.warn = original
      }
      expect(JSON.stringify(warned)).toContain('log sink down')
    })
  })

  describe('Tracer', () => {
    it('records an X-Ray remote subsegment per connect and per statement, with the sanitised SQL and no password in the URL', async () => {
      const tracer = new Tracer({ serviceName: 'orders' })
      expect(tracer.isTracingEnabled()).toBe(true)
      const observe = rdsPowertools({ tracer })
      unsubscribe = observe.unsubscribe
      const handler = middy()
        .use(captureLambdaHandler(tracer))
        .use(observe)
        .handler(async () => {
          connectSucceeded(startConnect(target, 1, 'verify-full'))
          querySucceeded(
            startQuery(target, `select "id" from "notes" where "title" = 'hunter2' and "id" = $1`),
            1,
          )
          queryFailed(
            startQuery(target, 'insert into "notes" ("title") values ($1)'),
            postgresError('23505', 'dup'),
          )
        })
      await handler({}, lambdaContext())
      const isSql = (doc: Record<string, unknown>) => doc.trace_id === traceRoot && 'sql' in doc
      await daemon.waitFor(
        (doc) =>
          isSql(doc) &&
          (doc.sql as { sanitized_query?: string }).sanitized_query?.startsWith('insert') === true,
      )
      const sql = daemon.documents.filter(isSql)
      expect(sql).toHaveLength(3)
      for (const doc of sql) {
        expect(doc).toMatchObject({
          name: 'orders@orders.cluster-abc.eu-west-1.rds.amazonaws.com',
          namespace: 'remote',
          sql: { url: `postgresql://${target.host}:5432/orders`, user: 'app', database_type: 'PostgreSQL' },
        })
        expect(doc.end_time).toBeGreaterThanOrEqual(doc.start_time as number)
      }
      const [connect, select, insert] = sql
      expect(connect?.metadata).toMatchObject({
        rdskit: { operation: 'connect', attempt: 1, tls: 'verify-full' },
      })
      expect(select?.sql).toMatchObject({
        sanitized_query: 'select "id" from "notes" where "title" = ? and "id" = $1',
        preparation: 'statement',
      })
      expect(select?.fault).toBeUndefined()
      expect(insert?.fault).toBe(true)
      expect(JSON.stringify(insert?.cause)).toContain('23505')
      expect(JSON.stringify(daemon.documents)).not.toContain('hunter2')
      expect(JSON.stringify(daemon.documents)).not.toContain('dup')
    })
  })

  describe('Middleware: rdsPowertools', () => {
    it('counts an RdsError reaching onError by its code', async () => {
      stdout = captureStdout()
      const metrics = new Metrics({ namespace: 'rdskit-test', serviceName: 'orders' })
      const observe = rdsPowertools({ metrics })
      unsubscribe = observe.unsubscribe
      const handler = middy()
        .use(observe)
        .handler(async () => {
          throw new RdsError('TOO_MANY_CONNECTIONS', 'no slot', { sqlstate: '53300', retryable: true })
        })
      await expect(handler({}, lambdaContext())).rejects.toThrow('no slot')
      const emitted = stdout.lines.filter((l) => l.includes('"_aws"')).flatMap(parseEmf)
      expect(emitted).toMatchObject([
        {
          name: metricNames.errors,
          unit: 'Count',
          values: [1],
          dimensions: { code: 'TOO_MANY_CONNECTIONS' },
        },
      ])
    })
  })
})

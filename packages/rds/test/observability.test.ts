import { randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import { inspect } from 'node:util'
import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import middy from '@middy/core'
import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { startTcpProxy, type TcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { channelNames, type RdsDatabase, rds } from '../src/index.ts'
import { subscribeOpenTelemetry } from '../src/otel/index.ts'
import { subscribePowertools } from '../src/powertools/index.ts'
import { freeze, lambdaContext, resetAll, uniqueKey } from './helpers.ts'
import { secretStore } from './support/secret-store.ts'
import { captureStdout } from './support/stdout.ts'

/**
 * Real traffic against real PostgreSQL with every subscriber attached: a password rotation that rds rides
 * through, statements whose parameters are secrets, a server error that quotes its parameter, and a write
 * lost to a connection reset (given up). Every event is published by the connection itself. Nothing secret
 * may reach a log line, a metric, a span or an event.
 */
const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const tls = cluster.ca ? { ca: cluster.ca } : (false as const)
const secret = (label: string) => `${label}-${randomBytes(9).toString('hex')}`
const oldPassword = secret('pw-old')
const newPassword = secret('pw-new')
const tokenParameter = secret('tok')
const badInteger = secret('not-an-int')
const lostWrite = secret('lost-write')
const roleName = `obs_${randomBytes(4).toString('hex')}`

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const payloads: unknown[] = []
const record = (message: unknown) => payloads.push(structuredClone(message))
const stages = { start: record, end: record, asyncStart: record, asyncEnd: record, error: record }
let stdout: ReturnType<typeof captureStdout>
const unsubscribes: Array<() => void> = []
let proxy: TcpProxy

beforeAll(async () => {
  await cluster.createRole({ name: roleName, password: oldPassword })
  await database.sql.unsafe(`grant create on schema public to ${roleName}`)
  proxy = await startTcpProxy({ target: { host: database.host, port: database.port } })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  stdout = captureStdout()
  const logger = new Logger({ serviceName: 'orders', logLevel: 'DEBUG' })
  const metrics = new Metrics({ namespace: 'rdskit-test', serviceName: 'orders' })
  unsubscribes.push(
    subscribePowertools({ logger, metrics }),
    subscribeOpenTelemetry({ tracer: provider.getTracer('test') }),
    () => metrics.publishStoredMetrics(),
  )
  for (const name of [channelNames.connect, channelNames.query])
    diagnostics.tracingChannel(name).subscribe(stages)
  diagnostics.subscribe(channelNames.recover, record)
})

afterAll(async () => {
  for (const name of [channelNames.connect, channelNames.query])
    diagnostics.tracingChannel(name).unsubscribe(stages)
  diagnostics.unsubscribe(channelNames.recover, record)
  for (const unsubscribe of unsubscribes) unsubscribe()
  stdout.restore()
  context.disable()
  await resetAll()
  await proxy?.stop()
})

describe('observability against real PostgreSQL', () => {
  it('publishes what rds does through a rotation and a lost write, and leaks no password, token or parameter anywhere', async () => {
    const store = secretStore(oldPassword)
    const handler = middy()
      .use(store.middleware)
      .use(
        rds({
          config: {
            host: proxy.host,
            port: proxy.port,
            database: database.database,
            username: roleName,
          },
          ...store.rdsOptions,
          cacheKey: uniqueKey('obs'),
          tls,
          logger: { warn() {} },
        }),
      )
      .handler(async (event, ctx) => {
        const db = ctx.db as unknown as RdsDatabase
        if ((event as { write?: boolean }).write) {
          proxy.resetOnNextData()
          return db.execute(sql`insert into obs_writes (note) values (${lostWrite})`)
        }
        await db.execute(sql`select ${tokenParameter}::text as token`)
        const echoed = await db.execute(sql`select ${tokenParameter}::text as token, 42 as answer`)
        await expect(db.execute(sql`select ${badInteger}::int`)).rejects.toMatchObject({
          cause: { code: '22P02' },
        })
        return echoed[0]?.token
      })
    const invoke = (event = {}) => handler(event, lambdaContext() as never)
    expect(await invoke()).toBe(tokenParameter)

    await cluster.setPassword(roleName, newPassword)
    store.state.password = newPassword
    await cluster.terminate({ user: roleName })
    // Its backend exited after saying goodbye (FATAL 57P01); the container sleeps meanwhile.
    await vi.waitFor(async () => expect(await cluster.sessions({ user: roleName })).toHaveLength(0), {
      timeout: 5_000,
      interval: 10,
    })
    freeze(100)
    expect(await invoke()).toBe(tokenParameter)
    expect(store.state.fetches).toBe(2)
    await database.sql.unsafe(`create table if not exists obs_writes (note text)`)
    await database.sql.unsafe(`grant insert on obs_writes to ${roleName}`)
    await expect(invoke({ write: true })).rejects.toMatchObject({ code: 'CONNECTION_LOST' })

    // rds published each step: the dropped session, the refresh after 28P01, the lost write given up.
    const recover = payloads.filter((p) => (p as { reason?: string }).reason !== undefined)
    const where = {
      version: 1,
      host: proxy.host,
      port: proxy.port,
      database: database.database,
      user: roleName,
      pooler: false,
    }
    expect(recover).toEqual([
      { ...where, reason: 'freeze', action: 'reconnect', attempt: 1, code: '57P01' },
      { ...where, reason: 'rotation', action: 'refresh', attempt: 1, code: '28P01' },
      { ...where, reason: 'reset', action: 'reconnect', attempt: 1, code: 'ECONNRESET' },
      { ...where, reason: 'reset', action: 'give-up', attempt: 1, code: 'CONNECTION_LOST' },
    ])
    // The Logger line for it, at warn.
    const logLines = stdout.json()
    expect(
      logLines.find((l) => (l.rds as { reason?: string } | undefined)?.reason === 'rotation'),
    ).toMatchObject({
      level: 'WARN',
      message: 'rds recovery: refresh (rotation)',
    })
    // Real statements, real server error: spans with the placeholders, the literal 42 sanitised, the SQLSTATE.
    const spans = exporter.getFinishedSpans()
    expect(spans.map((s) => s.attributes['db.query.text'])).toContain('select $1::text as token, ? as answer')
    const failed = spans.find((s) => s.attributes['error.type'] === '22P02')
    expect(failed?.attributes['db.response.status_code']).toBe('22P02')

    unsubscribes.pop()?.() // flush the metrics: they are scanned with the log lines
    const everything = [
      ...stdout.lines,
      inspect(payloads, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
      JSON.stringify(
        spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
      ),
    ].join('\n')
    expect(everything).toContain(roleName) // the scan does see what the events carry
    for (const value of [oldPassword, newPassword, tokenParameter, badInteger])
      expect(everything).not.toContain(value)
  })
})

import { randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import { inspect } from 'node:util'
import { Logger } from '@aws-lambda-powertools/logger'
import { Metrics } from '@aws-lambda-powertools/metrics'
import middy, { type MiddlewareObj } from '@middy/core'
import { processCache } from '@middy/util'
import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { PgDialect } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { queryFailed, querySucceeded, startQuery } from '../src/events/index.ts'
import { channelNames, type RdsDatabase, rds } from '../src/index.ts'
import { subscribeOpenTelemetry } from '../src/otel/index.ts'
import { subscribePowertools } from '../src/powertools/index.ts'
import { lambdaContext, resetAll, uniqueKey } from './helpers.ts'
import { captureStdout } from './support/stdout.ts'

/**
 * Real traffic against real PostgreSQL with every subscriber attached: a password rotation that rds rides
 * through (its refresh is published by rds itself), statements whose parameters are secrets, and a server
 * error that quotes its parameter. Nothing secret may reach a log line, a metric, a span or an event.
 */
const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const tls = cluster.ca ? { ca: cluster.ca } : (false as const)
const secret = (label: string) => `${label}-${randomBytes(9).toString('hex')}`
const oldPassword = secret('pw-old')
const newPassword = secret('pw-new')
const tokenParameter = secret('tok')
const badInteger = secret('not-an-int')
const roleName = `obs_${randomBytes(4).toString('hex')}`

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const payloads: unknown[] = []
const record = (message: unknown) => payloads.push(structuredClone(message))
const stages = { start: record, end: record, asyncStart: record, asyncEnd: record, error: record }
let stdout: ReturnType<typeof captureStdout>
const unsubscribes: Array<() => void> = []

beforeAll(async () => {
  await cluster.createRole({ name: roleName, password: oldPassword })
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
})

/** A credential middleware shaped like @middy/secrets-manager (a processCache entry of promises). */
function secretStore() {
  const state = { password: oldPassword, fetches: 0 }
  const cacheKey = uniqueKey('obs-secrets')
  const fetch = (_request: unknown, cached: Record<string, unknown> = {}) => {
    if (cached.dbPassword) return {}
    state.fetches++
    return { dbPassword: Promise.resolve(state.password) }
  }
  const middleware: MiddlewareObj = {
    before: async (request) => {
      const { value } = processCache({ cacheKey, cacheExpiry: -1 }, fetch as never, request as never)
      Object.assign(request.internal, value)
    },
  }
  return { state, cacheKey, middleware }
}

/** What the connection code will do around every drizzle statement, done here around the real driver. */
async function traced(db: RdsDatabase, query: { sql: string; params: unknown[] }) {
  const target = {
    host: database.host,
    port: database.port,
    database: database.database,
    user: roleName,
    pooler: false,
  }
  const event = startQuery(target, query.sql)
  try {
    const rows = await db.$client.unsafe(query.sql, query.params as never[])
    querySucceeded(event, rows.count)
    return rows
  } catch (error) {
    queryFailed(event, error)
    throw error
  }
}

describe('observability against real PostgreSQL', () => {
  it('publishes the rotation refresh rds makes, and leaks no password, token or parameter anywhere', async () => {
    const store = secretStore()
    const dialect = new PgDialect()
    const handler = middy()
      .use(store.middleware)
      .use(
        rds({
          config: {
            host: database.host,
            port: database.port,
            database: database.database,
            username: roleName,
          },
          internalData: { password: 'dbPassword' },
          credentialSource: { cacheKey: store.cacheKey, middleware: store.middleware },
          cacheKey: uniqueKey('obs'),
          tls,
          logger: { warn() {} },
        }),
      )
      .handler(async (_event, ctx) => {
        const db = ctx.db as unknown as RdsDatabase
        await db.execute(sql`select ${tokenParameter}::text as token`)
        const echoed = await traced(
          db,
          dialect.sqlToQuery(sql`select ${tokenParameter}::text as token, 42 as answer`),
        )
        await expect(traced(db, dialect.sqlToQuery(sql`select ${badInteger}::int`))).rejects.toMatchObject({
          code: '22P02',
        })
        return echoed[0]?.token
      })
    const invoke = () => handler({}, lambdaContext() as never)
    expect(await invoke()).toBe(tokenParameter)

    await cluster.setPassword(roleName, newPassword)
    store.state.password = newPassword
    await cluster.terminate({ user: roleName })
    expect(await invoke()).toBe(tokenParameter)
    expect(store.state.fetches).toBe(2)

    // rds published the refresh it made after the server said 28P01.
    const recover = payloads.filter((p) => (p as { reason?: string }).reason !== undefined)
    expect(recover).toEqual([
      {
        version: 1,
        host: database.host,
        port: database.port,
        database: database.database,
        user: roleName,
        pooler: false,
        reason: 'rotation',
        action: 'refresh',
        attempt: 1,
        code: '28P01',
      },
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

import { startTcpProxy, type TcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { RdsError } from '../src/index.ts'
import { container, resetAll } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const tls = cluster.ca ? { ca: cluster.ca } : (false as const)
await database.sql`create table events (id serial primary key, note text not null)`
const proxies: TcpProxy[] = []
afterAll(async () => {
  await resetAll()
  await Promise.all(proxies.map((p) => p.stop()))
})

async function proxy(acceptDelayMs = 0) {
  const p = await startTcpProxy({ target: { host: database.host, port: database.port }, acceptDelayMs })
  proxies.push(p)
  return p
}

const through = (p: TcpProxy) => ({
  config: {
    host: p.host,
    port: p.port,
    database: database.database,
    username: database.user,
    password: database.password,
  },
  tls,
  logger: { warn() {} },
})

describe('a connection reset in the middle of a statement', async () => {
  const p = await proxy()
  const c = container(through(p), async (event, ctx) => {
    const { write } = event as { write?: string }
    if (write) await ctx.db.execute(sql`insert into events (note) values (${write})`)
    return (await ctx.db.execute(sql`select count(*)::int as n from events`))[0]?.n as number
  })

  it('re-runs a read-only statement on a new connection', async () => {
    expect(await c.invoke()).toBe(0)
    p.resetOnNextData()
    expect(await c.invoke()).toBe(0)
  })

  it('surfaces a write as CONNECTION_LOST, not retryable, and never applies it twice', async () => {
    expect(await c.invoke()).toBe(0)
    p.resetOnNextData()
    const error = await c.invoke({ write: 'once' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: false })
    expect((error as RdsError).hint).toMatch(/may or may not have been applied/)
    const [row] = await database.sql`select count(*)::int as n from events where note = 'once'`
    expect(row?.n).toBeLessThanOrEqual(1)
    expect(await c.invoke()).toBe(row?.n)
  })
})

describe('a server slow to accept (Aurora Serverless resuming)', () => {
  it('gives up connecting within the remaining invocation time with CONNECT_TIMEOUT', async () => {
    const p = await proxy(10_000)
    const started = Date.now()
    const error = await container(through(p), async () => 'unreachable')
      .invoke({}, 1_500)
      .catch((e: unknown) => e)
    const elapsed = Date.now() - started
    expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECT_TIMEOUT', retryable: true })
    expect(elapsed).toBeLessThan(1_500)
    expect(elapsed).toBeGreaterThanOrEqual(900)
  })

  it('connects when the delay fits in the budget', async () => {
    const p = await proxy(300)
    expect(
      await container(
        through(p),
        async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one,
      ).invoke({}, 3_000),
    ).toBe(1)
  })
})

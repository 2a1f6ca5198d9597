import { startTcpProxy, type TcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { RdsError } from '../src/index.ts'
import { configOf, container, resetAll } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
await database.sql`create table events (id serial primary key, note text not null)`
await database.sql`create table gate (id int primary key)`
await database.sql`insert into gate values (1)`
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

let apps = 0
/** rds options that connect through `p` (verify-full TLS end to end: the proxy forwards encrypted bytes). */
const through = (p: TcpProxy, label = 'proxy') => {
  const applicationName = `${label}-${++apps}`
  return {
    applicationName,
    options: {
      config: { ...configOf(database, applicationName), host: p.host, port: p.port },
      logger: { warn() {} },
    },
  }
}

const count = async (note: string) =>
  Number((await database.sql`select count(*)::int as n from events where note = ${note}`)[0]?.n)

/**
 * Holds the row of `gate` FOR UPDATE in a transaction of its own: a statement reading it FOR SHARE then
 * blocks while executing (row locks are taken by the executor, after parse and bind), which proves the
 * server received the whole request and is running it.
 */
async function closeGate() {
  const holder = await database.sql.reserve()
  await holder`begin`
  await holder`select id from gate for update`
  return async () => {
    await holder`commit`
    holder.release()
  }
}

/**
 * Resolves with the backend PID once the session `applicationName` is executing a statement like `query` and
 * waiting (on a lock: 'Lock'; in pg_sleep: 'Timeout').
 */
async function executing(applicationName: string, query: string, waiting: 'Lock' | 'Timeout') {
  let pid: number | undefined
  await expect
    .poll(
      async () => {
        const [row] = await database.sql`select pid from pg_stat_activity
          where application_name = ${applicationName} and state = 'active' and wait_event_type = ${waiting}
            and query ilike ${query}`
        pid = row?.pid as number | undefined
        return pid
      },
      { timeout: 10_000, interval: 10 },
    )
    .toBeDefined()
  return pid as number
}

/** Resolves once backend `pid` has exited (it finished what it had received, then found its client gone). */
async function gone(pid: number) {
  await expect
    .poll(async () => (await database.sql`select 1 from pg_stat_activity where pid = ${pid}`).length, {
      timeout: 10_000,
      interval: 10,
    })
    .toBe(0)
}

describe('a connection reset after the statement reached the server', async () => {
  const p = await proxy()
  const { applicationName, options } = through(p, 'after-request')
  const c = container(options, async (event, ctx) => {
    const { write, pause = 0 } = event as { write?: string; pause?: number }
    // The write waits for the gate while executing; the read sleeps `pause` seconds while executing.
    if (write) await ctx.db.execute(sql`insert into events (note) select ${write} from gate for share`)
    const [row] = await ctx.db.execute(sql`select count(*)::int as n from events, pg_sleep(${pause})`)
    return row?.n as number
  })

  it('re-runs a read-only statement on a new connection and answers it', async () => {
    expect(await c.invoke()).toBe(0)
    const reset = p.resetAfterRequest(() => executing(applicationName, 'select count%', 'Timeout'))
    const answer = c.invoke({ pause: 0.5 }, 10_000)
    await reset
    expect(await answer).toBe(0)
  })

  it('surfaces a write the server was executing as CONNECTION_LOST, not retryable, and never re-runs it', async () => {
    expect(await c.invoke()).toBe(0)
    const release = await closeGate()
    let backend = 0
    const reset = p.resetAfterRequest(async () => {
      backend = await executing(applicationName, 'insert into events%', 'Lock')
    })
    const outcome = c.invoke({ write: 'once' }, 10_000).catch((e: unknown) => e)
    await reset
    await release()
    const error = await outcome
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: false })
    expect((error as RdsError).hint).toMatch(/may or may not have been applied/)
    // The server had the whole request: once the lock is free it applies the write, exactly once.
    await gone(backend)
    expect(await count('once')).toBe(1)
    expect(await c.invoke()).toBe(1)
  })
})

describe('a connection reset after the answer started to arrive', async () => {
  const p = await proxy()
  const { options } = through(p, 'after-response')
  // No parameters, so the request is one write (postgres.js describes parameterised ones first) and the
  // first bytes back are the statement's own answer; 2000 rows of 1 kB span many TCP chunks.
  const c = container(options, async (event, ctx) => {
    const { write } = event as { write?: string }
    const rows = write
      ? await ctx.db.execute(
          sql.raw(
            `insert into events (note) select '${write}' from generate_series(1, 2000) returning repeat('x', 1000) as pad`,
          ),
        )
      : await ctx.db.execute(sql.raw(`select repeat('x', 1000) as pad from generate_series(1, 2000)`))
    return { rows: rows.length, pid: (await ctx.db.execute(sql`select pg_backend_pid() as pid`))[0]?.pid }
  })

  it('re-runs a read-only statement and returns its whole answer', async () => {
    const first = await c.invoke()
    const cut = p.resetAfterResponseStarts()
    const second = await c.invoke({}, 10_000)
    expect((await cut).responseBytes).toBeGreaterThan(0)
    expect(second.rows).toBe(2000)
    expect(second.pid).not.toBe(first.pid)
  })

  it('surfaces a write whose answer was cut as CONNECTION_LOST and never applies it twice', async () => {
    const { pid } = await c.invoke()
    const cut = p.resetAfterResponseStarts()
    const error = await c.invoke({ write: 'cut' }, 10_000).catch((e: unknown) => e)
    expect((await cut).responseBytes).toBeGreaterThan(0)
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'CONNECTION_LOST', retryable: false })
    await gone(pid as number)
    // All or nothing (its fate was unknown to the client), never 4000.
    expect([0, 2000]).toContain(await count('cut'))
  })
})

describe('a server slow to accept (Aurora Serverless resuming)', () => {
  it('gives up connecting within the remaining invocation time with CONNECT_TIMEOUT', async () => {
    const p = await proxy(60_000)
    const started = Date.now()
    // A margin of 1 s: the client deadline is 2 s in, and the function's own end 1 s later.
    const error = await container({ ...through(p).options, timeoutMargin: 1_000 }, async () => 'unreachable')
      .invoke({}, 3_000)
      .catch((e: unknown) => e)
    const elapsed = Date.now() - started
    expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECT_TIMEOUT', retryable: true })
    expect(elapsed).toBeGreaterThanOrEqual(1_900)
    expect(elapsed).toBeLessThan(3_000)
  })

  it('connects when the delay fits in the budget', async () => {
    const p = await proxy(300)
    expect(
      await container(
        through(p).options,
        async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one,
      ).invoke({}, 5_000),
    ).toBe(1)
  })
})

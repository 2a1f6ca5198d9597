import { type PostgresCluster, startPostgres } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RdsError } from '../src/index.ts'
import { configOf, container, freeze, resetAll } from './helpers.ts'

afterAll(resetAll)

describe('after a freeze', async () => {
  const database = await sharedPostgres.testDatabase()
  const cluster = await sharedPostgres.cluster()
  await database.sql`create table writes (id serial primary key, note text)`
  const tls = cluster.ca ? { ca: cluster.ca } : (false as const)
  const base = configOf(database)
  const writer = (applicationName: string) =>
    container(
      { config: { ...base, connection: { application_name: applicationName } }, tls, logger: { warn() {} } },
      async (event, ctx) => {
        await ctx.db.execute(
          sql`insert into writes (note) values (${String((event as { note: string }).note)})`,
        )
        const [row] = await ctx.db.execute(sql`select pg_backend_pid() as pid`)
        return row?.pid as number
      },
    )
  const count = async (note: string) =>
    Number((await database.sql`select count(*)::int as n from writes where note = ${note}`)[0]?.n)

  it('runs the next invocation on a new session when the backend was terminated meanwhile, writing once', async () => {
    const c = writer('freeze-terminate')
    const firstPid = await c.invoke({ note: 'terminate' })
    expect(await cluster.terminate({ applicationName: 'freeze-terminate' })).toBe(1)
    freeze(300) // the server's FATAL and FIN reach the kernel while no JavaScript runs
    const secondPid = await c.invoke({ note: 'terminate' })
    expect(secondPid).not.toBe(firstPid)
    expect(await count('terminate')).toBe(2)
  })

  it('survives idle_session_timeout closing the session during the freeze, writing once', async () => {
    await database.sql.unsafe(`alter database "${database.database}" set idle_session_timeout = '300ms'`)
    try {
      const c = writer('freeze-idle-timeout')
      const firstPid = await c.invoke({ note: 'idle' })
      freeze(900)
      const secondPid = await c.invoke({ note: 'idle' })
      expect(secondPid).not.toBe(firstPid)
      expect(await count('idle')).toBe(2)
    } finally {
      await database.sql.unsafe(`alter database "${database.database}" reset idle_session_timeout`)
    }
  })

  it('pings a connection idle past pingAfterIdle and replaces it when the ping finds it dead', async () => {
    const c = container(
      {
        config: { ...base, connection: { application_name: 'freeze-ping' } },
        tls,
        pingAfterIdle: 0,
        logger: { warn() {} },
      },
      async (_e, ctx) => (await ctx.db.execute(sql`select pg_backend_pid() as pid`))[0]?.pid as number,
    )
    const firstPid = await c.invoke()
    await cluster.terminate({ applicationName: 'freeze-ping' })
    const secondPid = await c.invoke()
    expect(secondPid).not.toBe(firstPid)
  })
})

describe('a silent dead peer (server stopped with SIGSTOP)', () => {
  let cluster: PostgresCluster
  beforeAll(async () => {
    cluster = await startPostgres({ throwaway: true })
  })
  afterAll(async () => {
    await cluster?.resume().catch(() => {})
    await cluster?.stop()
  })

  const make = () =>
    container(
      {
        config: {
          host: cluster.host,
          port: cluster.port,
          database: cluster.database,
          username: cluster.user,
          password: cluster.password,
        },
        tls: false,
        logger: { warn() {} },
      },
      async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one as number,
    )

  it('fails a warm statement with TIMEOUT inside the budget, then recovers after resume', async () => {
    const c = make()
    expect(await c.invoke({}, 2_000)).toBe(1)
    await cluster.pause()
    const started = Date.now()
    const error = await c.invoke({}, 2_000).catch((e: unknown) => e)
    const elapsed = Date.now() - started
    await cluster.resume()
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true })
    expect(elapsed).toBeLessThan(2_000)
    expect(elapsed).toBeGreaterThanOrEqual(1_300)
    expect(await c.invoke({}, 2_000)).toBe(1)
  })

  // The deadline timer is armed once and not re-armed by invocations whose deadline is later: it must still
  // catch each invocation at its own deadline, whether that is later or sooner than the one it was armed for.
  it('times out an invocation whose deadline is later than the one the watchdog was armed for', async () => {
    const c = make()
    expect(await c.invoke({}, 1_000)).toBe(1) // armed for ~500 ms from now
    await new Promise((resolve) => setTimeout(resolve, 700)) // that deadline passes while idle
    await cluster.pause()
    const started = Date.now()
    const error = await c.invoke({}, 2_500).catch((e: unknown) => e)
    const elapsed = Date.now() - started
    await cluster.resume()
    expect(error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT' })
    expect(elapsed).toBeGreaterThanOrEqual(1_800)
    expect(elapsed).toBeLessThan(2_500)
  })

  it('times out an invocation whose deadline is sooner than the one the watchdog was armed for', async () => {
    const c = make()
    expect(await c.invoke({}, 20_000)).toBe(1) // armed ~19.5 s ahead
    await cluster.pause()
    const started = Date.now()
    const error = await c.invoke({}, 1_500).catch((e: unknown) => e)
    const elapsed = Date.now() - started
    await cluster.resume()
    expect(error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT' })
    expect(elapsed).toBeLessThan(1_500)
    expect(await c.invoke({}, 2_000)).toBe(1)
  })

  it('fails a cold connect with CONNECT_TIMEOUT inside the budget', async () => {
    await cluster.pause()
    const started = Date.now()
    const error = await make()
      .invoke({}, 1_500)
      .catch((e: unknown) => e)
    const elapsed = Date.now() - started
    await cluster.resume()
    expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECT_TIMEOUT', retryable: true })
    expect(elapsed).toBeLessThan(1_500)
  })
})

import { type PostgresCluster, startPostgres, startTcpProxy, type TcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RdsError, type RdsOptions } from '../src/index.ts'
import { backendGone, configOf, container, freeze, resetAll } from './helpers.ts'

afterAll(resetAll)

describe('after a freeze', async () => {
  const database = await sharedPostgres.testDatabase()
  const cluster = await sharedPostgres.cluster()
  await database.sql`create table writes (id serial primary key, note text)`
  const writer = (applicationName: string, extra: Partial<RdsOptions<Record<string, never>>> = {}) =>
    container(
      { config: configOf(database, applicationName), logger: { warn() {} }, ...extra },
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
    expect(await cluster.terminate(firstPid)).toBe(1)
    // Frozen until the backend has exited: its FATAL and FIN are in the kernel, unread, as after a freeze.
    await backendGone(cluster, firstPid)
    const secondPid = await c.invoke({ note: 'terminate' })
    expect(secondPid).not.toBe(firstPid)
    expect(await count('terminate')).toBe(2)
  })

  it('survives idle_session_timeout closing the session during the freeze, writing once', async () => {
    await database.sql.unsafe(`alter database "${database.database}" set idle_session_timeout = '300ms'`)
    try {
      const c = writer('freeze-idle-timeout')
      const firstPid = await c.invoke({ note: 'idle' })
      // Frozen until the server has ended the idle session (300 ms in) and its backend exited.
      await backendGone(cluster, firstPid)
      const secondPid = await c.invoke({ note: 'idle' })
      expect(secondPid).not.toBe(firstPid)
      expect(await count('idle')).toBe(2)
    } finally {
      await database.sql.unsafe(`alter database "${database.database}" reset idle_session_timeout`)
    }
  })

  // The peer vanished without FIN or RST while the container was frozen (a NAT entry expired, a node failed
  // over): nothing tells the client, and a write sent on that socket could never be re-run. Only the ping
  // after an idle period finds out, within pingTimeout, before the write goes out.
  it('pings a connection idle past pingAfterIdle, finds a silent peer dead within pingTimeout and writes once on a new session', async () => {
    const proxy: TcpProxy = await startTcpProxy({ target: { host: database.host, port: database.port } })
    try {
      const c = writer('freeze-silent', {
        config: { ...configOf(database, 'freeze-silent'), host: proxy.host, port: proxy.port },
        pingAfterIdle: 200,
        pingTimeout: 500,
        timeoutMargin: 1_000,
      })
      const firstPid = await c.invoke({ note: 'silent' }, 10_000)
      proxy.silenceOpenConnections()
      freeze(300) // idle past pingAfterIdle, as a frozen container
      const started = performance.now()
      const secondPid = await c.invoke({ note: 'silent' }, 10_000)
      const elapsed = performance.now() - started
      expect(secondPid).not.toBe(firstPid)
      expect(await count('silent')).toBe(2)
      // The ping went into the silence and nothing else did: the write went out on the new session only.
      expect(proxy.swallowed()).toBeGreaterThan(0)
      expect(proxy.swallowed()).toBeLessThan(200)
      // Waited for the ping's answer at least pingTimeout, and far less than the 9 s client deadline.
      expect(elapsed).toBeGreaterThanOrEqual(490)
      expect(elapsed).toBeLessThan(5_000)
    } finally {
      await proxy.stop()
    }
  })
})

describe('a silent dead peer (server stopped with SIGSTOP)', () => {
  let cluster: PostgresCluster
  beforeAll(async () => {
    cluster = await startPostgres({ throwaway: true, tls: true })
  })
  afterAll(async () => {
    await cluster?.resume().catch(() => {})
    await cluster?.stop()
  })

  // A margin of 1 s: the client deadline is the budget − 1 s, so a timer a few hundred ms late on a busy
  // machine still ends the invocation before the function's own end (the budget).
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
        tls: { ca: cluster.ca as string },
        timeoutMargin: 1_000,
        logger: { warn() {} },
      },
      async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one as number,
    )

  /** Runs `invoke` while the server is stopped; returns its error and how long it took. */
  async function whilePaused(invoke: () => Promise<unknown>) {
    await cluster.pause()
    const started = performance.now()
    try {
      const error = await invoke().catch((e: unknown) => e)
      return { error, elapsed: performance.now() - started }
    } finally {
      await cluster.resume()
    }
  }

  it('fails a warm statement with TIMEOUT at its client deadline, inside the budget, then recovers after resume', async () => {
    const c = make()
    expect(await c.invoke({}, 3_000)).toBe(1)
    const { error, elapsed } = await whilePaused(() => c.invoke({}, 3_000))
    expect(error).toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true })
    expect(elapsed).toBeGreaterThanOrEqual(1_950)
    expect(elapsed).toBeLessThan(3_000)
    expect(await c.invoke({}, 3_000)).toBe(1)
  })

  // The deadline timer is armed once and not re-armed by invocations whose deadline is later: it must still
  // catch each invocation at its own deadline, whether that is later or sooner than the one it was armed for.
  it('times out an invocation whose deadline is later than the one the watchdog was armed for', async () => {
    const c = make()
    expect(await c.invoke({}, 1_500)).toBe(1) // armed for ~500 ms from now
    // Time is the subject: that deadline passes (and the watchdog fires) while the client is idle.
    await new Promise((resolve) => setTimeout(resolve, 700))
    const { error, elapsed } = await whilePaused(() => c.invoke({}, 3_500))
    expect(error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT' })
    expect(elapsed).toBeGreaterThanOrEqual(2_450)
    expect(elapsed).toBeLessThan(3_500)
  })

  it('times out an invocation whose deadline is sooner than the one the watchdog was armed for', async () => {
    const c = make()
    expect(await c.invoke({}, 20_000)).toBe(1) // armed ~19 s ahead
    const { error, elapsed } = await whilePaused(() => c.invoke({}, 2_500))
    expect(error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT' })
    expect(elapsed).toBeGreaterThanOrEqual(1_450)
    expect(elapsed).toBeLessThan(2_500)
    expect(await c.invoke({}, 3_000)).toBe(1)
  })

  it('fails a cold connect with CONNECT_TIMEOUT at its client deadline, inside the budget', async () => {
    const { error, elapsed } = await whilePaused(() => make().invoke({}, 2_500))
    expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECT_TIMEOUT', retryable: true })
    expect(elapsed).toBeGreaterThanOrEqual(1_450)
    expect(elapsed).toBeLessThan(2_500)
  })
})

import { randomBytes } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import middy from '@middy/core'
import { type PostgresCluster, startPostgres, startTcpProxy, type TcpProxy } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { eq, sql } from 'drizzle-orm'
import { pgTable, serial, text } from 'drizzle-orm/pg-core'
import postgres from 'postgres'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type ConnectEvent, channelNames, close, type RecoverEvent, rds } from '../src/index.ts'
import { configOf, container, freeze, lambdaContext, resetAll, uniqueKey } from './helpers.ts'
import { recordEvents } from './support/events.ts'
import { secretStore } from './support/secret-store.ts'

/**
 * Every event the interface documents, published by the connection itself against real PostgreSQL: each
 * test drives one scenario and reads the events a subscriber received, in order.
 */
const recorder = recordEvents()
const database = await sharedPostgres.testDatabase()
const shared = await sharedPostgres.cluster()
const sharedTls = shared.ca ? { ca: shared.ca } : (false as const)
const secret = (label: string) => `${label}-${randomBytes(9).toString('hex')}`
const notes = pgTable('event_notes', {
  id: serial('id').primaryKey(),
  owner: text('owner').unique(),
  body: text('body'),
})
await database.sql`create table event_notes (id serial primary key, owner text unique, body text)`

beforeEach(() => recorder.clear())

/** Resolves once the server has no session left matching `filter`: its backend exited after saying goodbye. */
const gone = (filter: { user?: string; applicationName?: string }) =>
  vi.waitFor(async () => expect(await shared.sessions(filter)).toHaveLength(0), {
    timeout: 5_000,
    interval: 10,
  })
afterAll(async () => {
  recorder.stop()
  await resetAll()
})

const target = (at: { host: string; port: number; database: string }, user: string) => ({
  version: 1,
  host: at.host,
  port: at.port,
  database: at.database,
  user,
  pooler: false,
})

describe('connect', () => {
  let cluster: PostgresCluster
  const app = { name: `ev_${randomBytes(3).toString('hex')}`, password: secret('pw') }
  beforeAll(async () => {
    cluster = await startPostgres({ tls: true, roles: [app] })
  })
  afterAll(() => cluster?.stop())
  const through = (password: string) =>
    container(
      {
        config: {
          host: 'localhost',
          port: cluster.port,
          database: cluster.database,
          username: app.name,
          password,
        },
        tls: { ca: cluster.ca as string },
        logger: { warn() {} },
      },
      async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one,
    )

  it('publishes one connect per physical connection: verify-full, attempt 1, its duration', async () => {
    const started = performance.now()
    expect(await through(app.password).invoke()).toBe(1)
    const elapsed = performance.now() - started
    const [start, ...rest] = recorder.seen.filter((s) => s.channel === 'connect')
    expect(start).toEqual({
      channel: 'connect',
      stage: 'start',
      event: { ...target({ ...cluster, host: 'localhost' }, app.name), attempt: 1, tls: 'verify-full' },
    })
    expect(rest).toHaveLength(1)
    const settled = rest[0]?.event as { durationMs: number; error?: unknown }
    expect(settled).toEqual({ ...start?.event, durationMs: expect.any(Number) })
    expect(settled.durationMs).toBeGreaterThan(0)
    expect(settled.durationMs).toBeLessThan(elapsed)
  })

  it('fails a connect with the SQLSTATE the server answered in the startup (28P01), one attempt after another', async () => {
    const wrong = secret('wrong')
    await expect(through(wrong).invoke()).rejects.toMatchObject({ code: 'AUTH_FAILED' })
    expect(recorder.connects().map((c) => [c.attempt, c.error])).toEqual([
      [1, { name: 'Error', code: '28P01', sqlstate: '28P01' }],
      [2, { name: 'Error', code: '28P01', sqlstate: '28P01' }],
    ])
    // The refresh was tried once, then recovery gave up with the error the caller got.
    expect(recorder.steps()).toEqual(['rotation/refresh 28P01', 'rotation/give-up AUTH_FAILED'])
    expect(JSON.stringify(recorder.seen)).not.toContain(wrong)
  })
})

describe('query', () => {
  const c = container(
    { config: configOf(database), tls: sharedTls, logger: { warn() {} } },
    async (event, ctx) => {
      const { owner, other } = event as { owner: string; other: string }
      const inserted = await ctx.db
        .insert(notes)
        .values([
          { owner, body: 'a' },
          { owner: other, body: 'b' },
        ])
        .returning({ id: notes.id })
      const found = await ctx.db.select().from(notes).where(eq(notes.owner, owner))
      const duplicate = await ctx.db
        .insert(notes)
        .values({ owner, body: 'again' })
        .catch((e: unknown) => e)
      return { inserted: inserted.length, found: found.length, duplicate }
    },
  )

  it('publishes each statement with its placeholders, never a parameter; rowCount; a failure with its SQLSTATE', async () => {
    const owner = secret('owner')
    const other = secret('other')
    const result = await c.invoke({ owner, other })
    expect(result).toMatchObject({ inserted: 2, found: 1 })
    const queries = recorder.queries()
    expect(queries).toHaveLength(3)
    expect(queries[0]).toMatchObject({
      ...target(database, database.user),
      statement:
        'insert into "event_notes" ("id", "owner", "body") values (default, $1, $2), (default, $3, $4) returning "id"',
      operation: 'INSERT',
      summary: 'INSERT event_notes',
      readOnly: false,
      rowCount: 2,
    })
    expect(queries[1]).toMatchObject({
      statement: 'select "id", "owner", "body" from "event_notes" where "event_notes"."owner" = $1',
      operation: 'SELECT',
      summary: 'SELECT event_notes',
      readOnly: true,
      rowCount: 1,
    })
    expect(queries[2]).toMatchObject({
      operation: 'INSERT',
      error: { name: 'PostgresError', code: '23505', sqlstate: '23505' },
    })
    for (const query of queries) expect(query.durationMs).toBeGreaterThan(0)
    // A driver message names the duplicate key (the parameter): the summary keeps only the codes.
    expect(queries[2]?.error).not.toHaveProperty('message')
    const everything = JSON.stringify(recorder.seen)
    expect(everything).not.toContain(owner)
    expect(everything).not.toContain(other)
    expect(recorder.steps()).toEqual([])
  })
})

describe('recover', () => {
  const readPid = (applicationName: string, extra: object = {}) =>
    container(
      {
        config: { ...configOf(database), connection: { application_name: applicationName } },
        tls: sharedTls,
        logger: { warn() {} },
        ...extra,
      },
      async (_e, ctx) => (await ctx.db.execute(sql`select pg_backend_pid() as pid`))[0]?.pid as number,
    )

  it('freeze: a session the server ended while the container slept is dropped (reconnect, with its SQLSTATE)', async () => {
    const c = readPid('events-freeze')
    const first = await c.invoke()
    recorder.clear()
    expect(await shared.terminate({ applicationName: 'events-freeze' })).toBe(1)
    await gone({ applicationName: 'events-freeze' }) // its FATAL and FIN are on their way to the client
    freeze(100) // the container sleeps: nothing runs until the next invocation
    expect(await c.invoke()).not.toBe(first)
    expect(recorder.recovers()).toEqual([
      {
        ...target(database, database.user),
        reason: 'freeze',
        action: 'reconnect',
        attempt: 1,
        code: '57P01',
      },
    ])
    // Then a new session, attempt 1, and the statement on it.
    expect(recorder.connects().map((e) => [e.attempt, e.error])).toEqual([[1, undefined]])
    expect(recorder.queries()).toHaveLength(1)
  })

  describe('reset (a proxy resets the connection under the statement)', async () => {
    const proxy: TcpProxy = await startTcpProxy({ target: { host: database.host, port: database.port } })
    afterAll(() => proxy.stop())
    const c = container(
      {
        config: { ...configOf(database), host: proxy.host, port: proxy.port },
        tls: sharedTls,
        logger: { warn() {} },
      },
      async (event, ctx) => {
        const { write } = event as { write?: string }
        if (write) return ctx.db.insert(notes).values({ owner: write, body: 'reset' })
        return (await ctx.db.execute(sql`select 1 as one`))[0]?.one
      },
    )

    it('re-runs a read: reconnect, then retry', async () => {
      expect(await c.invoke()).toBe(1)
      proxy.resetOnNextData()
      recorder.clear()
      expect(await c.invoke()).toBe(1)
      expect(recorder.steps()).toEqual(['reset/reconnect ECONNRESET', 'reset/retry ECONNRESET'])
      expect(recorder.recovers()[0]).toMatchObject({ host: proxy.host, port: proxy.port, attempt: 1 })
      expect(recorder.queries().map((q) => q.error)).toEqual([undefined])
    })

    it('gives a write up after the reconnect, with the code the caller gets', async () => {
      expect(await c.invoke()).toBe(1)
      proxy.resetOnNextData()
      recorder.clear()
      await expect(c.invoke({ write: secret('w') })).rejects.toMatchObject({ code: 'CONNECTION_LOST' })
      expect(recorder.steps()).toEqual(['reset/reconnect ECONNRESET', 'reset/give-up CONNECTION_LOST'])
      expect(recorder.queries().map((q) => q.error?.code)).toEqual(['CONNECTION_LOST'])
    })
  })

  it('rotation: the rejected credential is refreshed once (28P01), and the next connect attempt succeeds', async () => {
    const role = { name: `ev_rot_${randomBytes(3).toString('hex')}`, password: secret('old') }
    await shared.createRole(role)
    const store = secretStore(role.password)
    const handler = middy()
      .use(store.middleware)
      .use(
        rds({
          config: {
            host: database.host,
            port: database.port,
            database: database.database,
            username: role.name,
          },
          ...store.rdsOptions,
          cacheKey: uniqueKey('events-rotation'),
          tls: sharedTls,
          logger: { warn() {} },
        }),
      )
      .handler(async (_e, ctx) => (await ctx.db.execute(sql`select current_user as who`))[0]?.who)
    const invoke = () => handler({} as never, lambdaContext() as never)
    expect(await invoke()).toBe(role.name)
    const rotated = secret('new')
    await shared.setPassword(role.name, rotated)
    store.state.password = rotated
    recorder.clear()
    await shared.terminate({ user: role.name })
    await gone({ user: role.name })
    freeze(100) // the container sleeps; the server's goodbye waits in the kernel
    expect(await invoke()).toBe(role.name)
    expect(recorder.steps()).toEqual(['freeze/reconnect 57P01', 'rotation/refresh 28P01'])
    // The refused attempt, then the next one with the refreshed password: one session, which the handler's
    // statement uses too (the refused socket's close, coming after the renewal, does not renew the client again).
    expect(recorder.connects().map((e) => [e.attempt, e.error?.sqlstate])).toEqual([
      [1, '28P01'],
      [2, undefined],
    ])
    expect(JSON.stringify(recorder.seen)).not.toContain(rotated)
  })

  describe('exhaustion', () => {
    let cluster: PostgresCluster
    const app = { name: `ev_ex_${randomBytes(3).toString('hex')}`, password: secret('pw') }
    beforeAll(async () => {
      // One slot for non-superusers (the admin handle holds one, one is reserved).
      cluster = await startPostgres({ maxConnections: 3, roles: [app] })
    })
    afterAll(() => cluster?.stop())

    type Handler = Parameters<typeof container<unknown>>[1]
    const selectOne: Handler = async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one
    /** Two writes at once, tagged with the invocation's id: a lost or repeated statement shows in the table. */
    const writeTwice: Handler = async (event, ctx) => {
      const { id } = event as { id: string }
      const tags = [`${id}-a`, `${id}-b`]
      await Promise.all(tags.map((tag) => ctx.db.execute(sql`insert into ex_writes (tag) values (${tag})`)))
      return id
    }

    /**
     * Holds the one slot until rds first backs off, runs `events` on one container at once, and returns their
     * results with the connect and recover events.
     */
    async function exhausted(extra: object, events: object[] = [{}], handler = selectOne) {
      // An earlier test's session has gone: the one slot is free for the holder.
      await close()
      await vi.waitFor(async () => expect(await cluster.sessions({ user: app.name })).toHaveLength(0), {
        timeout: 5_000,
        interval: 10,
      })
      const holder = postgres({ ...configOf({ ...cluster, user: app.name, password: app.password }), max: 1 })
      await holder`select 1`
      // The slot is released once rds has backed off for the first time.
      const release = (message: unknown) => {
        if ((message as RecoverEvent).action === 'backoff') void holder.end({ timeout: 0 })
      }
      diagnostics.subscribe(channelNames.recover, release)
      try {
        const c = container(
          {
            config: { ...configOf({ ...cluster, user: app.name, password: app.password }) },
            tls: false,
            logger: { warn() {} },
            ...extra,
          },
          handler,
        )
        const results = await Promise.all(events.map((event) => c.invoke(event, 8_000)))
        return { results, steps: recorder.recovers(), connects: recorder.connects() }
      } finally {
        diagnostics.unsubscribe(channelNames.recover, release)
        await holder.end({ timeout: 0 })
      }
    }

    /** Each refused connect is an attempt of its own; the last one succeeds and is the only session opened. */
    function expectOneSession(connects: ConnectEvent[]) {
      expect(connects.map((e) => e.attempt)).toEqual(connects.map((_, at) => at + 1))
      expect(connects.slice(0, -1).every((e) => e.error?.sqlstate === '53300')).toBe(true)
      expect(connects.at(-1)?.error).toBeUndefined()
    }

    it('backs off on 53300 with the delay of each wait, until a slot frees up', async () => {
      const { results, steps, connects } = await exhausted({})
      expect(results).toEqual([1])
      expect(steps.length).toBeGreaterThanOrEqual(1)
      steps.forEach((step, at) => {
        expect(step).toMatchObject({
          reason: 'exhaustion',
          action: 'backoff',
          code: '53300',
          attempt: at + 1,
        })
        expect(step.delayMs).toBeGreaterThanOrEqual(0)
        expect(step.delayMs).toBeLessThanOrEqual(1_000) // backoffCap
      })
      expectOneSession(connects)
      expect(connects).toHaveLength(steps.length + 1)
    })

    // Waits of a millisecond or two: the retry goes out while the refused connection is still closing.
    it('a retry sent before the refused socket closed opens one session, on the renewed client', async () => {
      const { results, steps, connects } = await exhausted({ backoffBase: 1 })
      expect(results).toEqual([1])
      expectOneSession(connects)
      expect(connects).toHaveLength(steps.length + 1)
    })

    it('statements queued behind the refused startup share that one session, each run once', async () => {
      await cluster.sql`create table ex_writes (tag text primary key)`
      await cluster.sql`alter table ex_writes owner to ${cluster.sql(app.name)}`
      const ids = [secret('one'), secret('two')]
      const events = ids.map((id) => ({ id }))
      const { results, connects } = await exhausted({ backoffBase: 1 }, events, writeTwice)
      expect(results).toEqual(ids)
      expectOneSession(connects)
      const rows = await cluster.sql<{ tag: string }[]>`select tag from ex_writes`
      expect(rows.map((r) => r.tag).sort()).toEqual(ids.flatMap((id) => [`${id}-a`, `${id}-b`]).sort())
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
    const make = (extra: object = {}) =>
      container(
        { config: configOf(cluster), tls: false, logger: { warn() {} }, ...extra },
        async (_e, ctx) => (await ctx.db.execute(sql`select 1 as one`))[0]?.one,
      )

    it('deadline: the watchdog cancels the stalled statement, then recovery gives up with TIMEOUT', async () => {
      const c = make()
      expect(await c.invoke({}, 2_000)).toBe(1)
      await cluster.pause()
      recorder.clear()
      const error = await c.invoke({}, 2_000).catch((e: unknown) => e)
      await cluster.resume()
      expect(error).toMatchObject({ code: 'TIMEOUT' })
      expect(recorder.steps()).toEqual(['deadline/cancel', 'deadline/give-up TIMEOUT'])
      expect(recorder.queries().map((q) => q.error?.code)).toEqual(['TIMEOUT'])
    })

    it('freeze: the idle probe that gets no answer drops the session (ETIMEDOUT) and retries on a new one', async () => {
      const c = make({ pingAfterIdle: 0, pingTimeout: 300 })
      expect(await c.invoke({}, 2_000)).toBe(1)
      await cluster.pause()
      recorder.clear()
      const error = await c.invoke({}, 2_000).catch((e: unknown) => e)
      await cluster.resume()
      // The new connection hangs too (the server is still stopped): the deadline ends it.
      expect(error).toMatchObject({ code: 'CONNECT_TIMEOUT' })
      expect(recorder.steps()).toEqual([
        'freeze/reconnect ETIMEDOUT',
        'freeze/retry ETIMEDOUT',
        'deadline/cancel',
        'deadline/give-up CONNECT_TIMEOUT',
      ])
      // The watchdog closed the connect that hung at the deadline.
      expect(recorder.connects().map((e) => e.error?.code)).toEqual(['CONNECTION_CLOSED'])
    })
  })
})

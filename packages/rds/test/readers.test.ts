import { readFileSync } from 'node:fs'
import { type ReplicatedCluster, startReplicatedCluster } from '@rdskit/testing'
import { eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RdsOptions } from '../src/index.ts'
import * as schema from './fixtures/schema.ts'
import { closedPort, container, freeze, resetAll } from './helpers.ts'

// A writer and one streaming standby behind a cluster endpoint and a reader endpoint, TLS verified on both.
let cluster: ReplicatedCluster

beforeAll(async () => {
  cluster = await startReplicatedCluster({ standbys: 1, tls: true })
  const admin = cluster.connect('endpoint', { max: 1 })
  await admin`create table notes (id serial primary key, body text not null, created_at timestamptz not null default now())`
  await admin`insert into notes (body) values ('seed')`
  await admin.end()
  await cluster.waitForReplay()
}, 90_000)
afterAll(async () => {
  await resetAll()
  await cluster?.stop()
})

type Options = RdsOptions<typeof schema, 'db'>
const warnings: string[] = []

function options(overrides: Partial<Options> = {}): Options {
  const writer = cluster.endpoint()
  const reader = cluster.readerEndpoint()
  return {
    schema,
    config: {
      host: writer.host,
      port: writer.port,
      database: cluster.database,
      username: cluster.user,
      password: cluster.password,
    },
    reader: { host: reader.host, port: reader.port },
    tls: { ca: cluster.ca as string },
    logger: { warn: (message: string) => warnings.push(message) },
    ...overrides,
  }
}

/** Which server answered: true on the standby (in recovery), false on the writer. */
const onStandby = sql<boolean>`pg_is_in_recovery()`.as('standby')

async function waitFor(what: string, check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('reader', () => {
  it('sends selects and relational queries to the reader; writes, execute, transactions and $primary to the writer', async () => {
    const lambda = container(options() as never, async (_event, { db: untyped }) => {
      const db = untyped as unknown as import('../src/index.ts').RdsDatabase<typeof schema>
      const [select] = await db.select({ standby: onStandby }).from(schema.notes).limit(1)
      const relational = await db.query.notes.findFirst({ extras: { standby: onStandby } })
      const [insert] = await db
        .insert(schema.notes)
        .values({ body: 'written' })
        .returning({ id: schema.notes.id, standby: sql<boolean>`pg_is_in_recovery()` })
      const fresh = await db.$primary
        .select({ body: schema.notes.body, standby: onStandby })
        .from(schema.notes)
        .where(eq(schema.notes.id, insert?.id ?? 0))
      const inTransaction = await db.transaction(
        async (tx) => (await tx.select({ standby: onStandby }).from(schema.notes).limit(1))[0]?.standby,
      )
      const [execute] = await db.execute<{ standby: boolean }>(sql`select pg_is_in_recovery() as standby`)
      const [client] = await db.$client`select pg_is_in_recovery() as standby`
      // Built from the reader's instance (drizzle's `with` goes to replicas), but it writes: never to the reader.
      const renamed = db.$with('renamed').as(db.select({ id: schema.notes.id }).from(schema.notes).limit(1))
      const updated = await db
        .with(renamed)
        .update(schema.notes)
        .set({ body: 'renamed' })
        .where(eq(schema.notes.id, insert?.id ?? 0))
        .returning({ standby: sql<boolean>`pg_is_in_recovery()` })
      const locked = await db
        .select({ standby: onStandby })
        .from(schema.notes)
        .where(eq(schema.notes.id, insert?.id ?? 0))
        .for('update')
      return {
        select: select?.standby,
        relational: relational?.standby,
        insert: insert?.standby,
        fresh: fresh.map((row) => [row.body, row.standby]),
        inTransaction,
        execute: execute?.standby,
        client: client?.standby,
        updated: updated.map((row) => row.standby),
        locked: locked.map((row) => row.standby),
      }
    })
    expect(await lambda.invoke({}, 5_000)).toEqual({
      select: true,
      relational: true,
      insert: false,
      fresh: [['written', false]],
      inTransaction: false,
      execute: false,
      client: false,
      updated: [false],
      locked: [false],
    })
  })

  it('drops a reader session the server closed during a freeze before the next read, which stays on the reader', async () => {
    warnings.length = 0
    const applicationName = 'readers-freeze'
    const base = options()
    const lambda = container(
      { ...base, config: { ...base.config, connection: { application_name: applicationName } } } as never,
      async (_e, { db }) => (await db.select({ standby: onStandby }).from(schema.notes).limit(1))[0]?.standby,
    )
    expect(await lambda.invoke({}, 3_000)).toBe(true)
    await terminateOnStandby(applicationName)
    expect(await lambda.invoke({}, 3_000)).toBe(true)
    expect(warnings).toEqual([])
  })

  it('runs reads on the writer while the reader refuses connections, and warns once naming the reader', async () => {
    warnings.length = 0
    const closed = await closedPort()
    const lambda = container(
      options({ reader: { host: '127.0.0.1', port: closed } }) as never,
      async (_e, { db }) => {
        const rows = await db.select({ standby: onStandby }).from(schema.notes).limit(1)
        return rows[0]?.standby
      },
    )
    for (let i = 0; i < 3; i++) expect(await lambda.invoke({}, 3_000)).toBe(false)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`127.0.0.1:${closed}`)
    expect(warnings[0]).toContain('ECONNREFUSED')
    expect(warnings[0]).not.toContain(cluster.password)
  })
})

/** Ends the reader's session on the standby and waits, without letting the event loop run, until it is gone. */
async function terminateOnStandby(applicationName: string) {
  const standby = cluster.connect(1, { max: 1 })
  const [row] =
    await standby`select pid, pg_terminate_backend(pid) as done from pg_stat_activity where application_name = ${applicationName}`
  await standby.end()
  expect(row?.done).toBe(true)
  for (let i = 0; i < 5_000; i++) {
    let state: string | undefined
    try {
      state = readFileSync(`/proc/${row?.pid}/stat`, 'utf8').split(') ')[1]?.[0]
    } catch {
      return
    }
    if (state === 'Z' || state === 'X') return
    freeze(0.2)
  }
  throw new Error(`backend ${row?.pid} did not exit`)
}

interface Read {
  container: number
  at: number
  elapsed: number
  standby?: boolean
  error?: string
}

describe.each(['fast', 'immediate'] as const)('a reader restart (%s) while reads run', (mode) => {
  it('answers every read within its deadline, on the writer while the reader is down, and returns to the reader', async () => {
    const containers = 6
    const budgetMs = 3_000
    const reads: Read[] = []
    const lambdas = Array.from({ length: containers }, () =>
      container(options() as never, async (_e, { db }) => {
        const [row] = await db.select({ standby: onStandby }).from(schema.notes).limit(1)
        return row?.standby
      }),
    )
    let running = true
    const loops = lambdas.map(async (lambda, index) => {
      while (running) {
        const started = performance.now()
        try {
          const standby = await lambda.invoke({}, budgetMs)
          reads.push({ container: index, at: started, elapsed: performance.now() - started, standby })
        } catch (error) {
          const code = (error as { code?: string }).code ?? String(error)
          reads.push({ container: index, at: started, elapsed: performance.now() - started, error: code })
        }
      }
    })
    const onReaderSince = (since: number) => () =>
      lambdas.every((_, index) => reads.some((r) => r.container === index && r.at > since && r.standby))
    try {
      await waitFor('every container reading from the standby', onReaderSince(0), 20_000)
      const report = await cluster.restart({ node: 1, mode, downMs: 1_500 })
      const back = performance.now()
      await waitFor('every container reading from the standby again', onReaderSince(back), 40_000)
      const slowest = Math.max(...reads.map((read) => read.elapsed))
      console.info(
        `reader restart ${mode}: ${JSON.stringify(report)}; ${reads.length} reads, ${reads.filter((r) => r.standby === false).length} on the writer, slowest ${Math.round(slowest)} ms; every container back on the reader ${Math.round(performance.now() - back)} ms after it was`,
      )
    } finally {
      running = false
      await Promise.all(loops)
    }
    const failed = reads.filter((read) => read.error !== undefined)
    const late = reads.filter((read) => read.elapsed > budgetMs)
    expect(failed, 'reads that failed').toEqual([])
    expect(late, 'reads past their deadline').toEqual([])
    // While the reader was down the writer answered (reads never waited for the reader to come back).
    expect(reads.filter((read) => read.standby === false).length).toBeGreaterThan(0)
  })
})

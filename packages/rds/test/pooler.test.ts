import { randomBytes } from 'node:crypto'
import { type PgBouncer, requireSystemBinary } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { eq, sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import type { RdsOptions } from '../src/index.ts'
import { notes } from './fixtures/schema.ts'
import { container, resetAll } from './helpers.ts'
import { startTransactionPooler } from './support/pgbouncer.ts'

const pgbouncer = requireSystemBinary('pgbouncer')
const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
await database.sql`create table notes (id serial primary key, body text not null, created_at timestamptz not null default now())`
const app = {
  name: `app_${randomBytes(3).toString('hex')}`,
  password: `pw-${randomBytes(9).toString('hex')}`,
}
await cluster.createRole(app)
await database.sql.unsafe(
  `grant all on all tables in schema public to ${app.name}; grant all on all sequences in schema public to ${app.name}`,
)
let bouncer: PgBouncer | undefined
afterAll(async () => {
  await resetAll()
  await bouncer?.stop()
})

/** Containers (each its own client, one connection) that run their invocations at the same time. */
const containers = 6
const rounds = 8

describe.runIf(pgbouncer)('behind PgBouncer in transaction mode (like RDS Proxy)', async () => {
  // TLS on both legs, 2 server connections for 6 clients: each transaction may land on another server session.
  bouncer = await startTransactionPooler(cluster, app)
  const base: RdsOptions<{ notes: typeof notes }> = {
    config: {
      host: bouncer.host,
      port: bouncer.port,
      database: database.database,
      username: app.name,
      password: app.password,
    },
    tls: { ca: bouncer.ca as string },
    schema: { notes },
    logger: { warn() {} },
  }

  /**
   * Every invocation inserts a note in a transaction, then reads it back through drizzle's prepared query and
   * a parameterised select: statements postgres.js would prepare by name on one server session and execute on
   * whichever session PgBouncer hands out next.
   */
  async function concurrentRounds(options: RdsOptions<{ notes: typeof notes }>) {
    const cs = Array.from({ length: containers }, () =>
      container(options as never, async (event, ctx) => {
        const db = ctx.db as unknown as import('../src/index.ts').RdsDatabase<{ notes: typeof notes }>
        const body = String((event as { body: string }).body)
        const byId = db
          .select()
          .from(notes)
          .where(eq(notes.id, sql.placeholder('id')))
          .prepare('note_by_id')
        const [created] = await db.transaction(async (tx) => tx.insert(notes).values({ body }).returning())
        const [viaPrepared] = await byId.execute({ id: created?.id })
        const [viaSelect] = await db.select().from(notes).where(eq(notes.body, body))
        return [viaPrepared?.body, viaSelect?.body]
      }),
    )
    const outcomes: unknown[] = []
    for (let round = 0; round < rounds; round++) {
      const settled = await Promise.allSettled(
        cs.map((c, i) => c.invoke({ body: `r${round}-c${i}-${randomBytes(3).toString('hex')}` }, 10_000)),
      )
      for (const [i, result] of settled.entries()) {
        outcomes.push(
          result.status === 'rejected'
            ? result.reason
            : result.value[0] === result.value[1] && String(result.value[0]).startsWith(`r${round}-c${i}-`)
              ? 'ok'
              : result.value,
        )
      }
    }
    return outcomes
  }

  it('runs concurrent transactions and prepared queries correctly with pooler: true', async () => {
    const outcomes = await concurrentRounds({ ...base, pooler: true })
    expect(outcomes).toEqual(Array(containers * rounds).fill('ok'))
  })

  // Why pooler: true matters. statementTimeout: false keeps out the startup parameter PgBouncer refuses, so
  // what goes wrong is the named prepared statement: executed on a server session that never prepared it.
  // postgres.js re-prepares it after the 26000 and PgBouncer has meanwhile handed the client another session,
  // so some invocations do not even fail: their insert … returning comes back empty and the row is never
  // written (PgBouncer 1.18, postgres.js 3.4).
  it('goes wrong under concurrency without pooler: true: named prepared statements land on sessions that lack them', async () => {
    const before = Number((await database.sql`select count(*)::int as n from notes`)[0]?.n)
    const outcomes = await concurrentRounds({ ...base, statementTimeout: false })
    const failures = outcomes.filter((o) => o !== 'ok')
    expect(failures.length).toBeGreaterThan(0)
    const written = Number((await database.sql`select count(*)::int as n from notes`)[0]?.n) - before
    for (const failure of failures.filter((f) => f instanceof Error)) {
      expect(failure).toMatchObject({ name: 'RdsError', code: 'POOLER_INCOMPATIBLE' })
    }
    // Writes were lost: fewer rows than invocations, though every answered invocation wrote its own.
    expect(written).toBeGreaterThanOrEqual(outcomes.length - failures.length)
    expect(written).toBeLessThan(outcomes.length)
  })

  it('refuses the statement_timeout startup parameter without pooler: true, with POOLER_INCOMPATIBLE', async () => {
    const error = await container(base as never, async () => 'never')
      .invoke()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'RdsError', code: 'POOLER_INCOMPATIBLE', sqlstate: '08P01' })
    expect((error as { hint: string }).hint).toMatch(/pooler: true/)
  })
})

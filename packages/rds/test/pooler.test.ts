import { randomBytes } from 'node:crypto'
import { type PgBouncer, requireSystemBinary, startPgBouncer } from '@rdskit/testing'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { eq, sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { notes } from './fixtures/schema.ts'
import { container, resetAll } from './helpers.ts'

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

describe.runIf(pgbouncer)('behind PgBouncer in transaction mode (like RDS Proxy)', async () => {
  bouncer = await startPgBouncer({
    upstream: {
      host: cluster.host,
      port: cluster.port,
      user: cluster.user,
      password: cluster.password,
      ca: cluster.ca,
    },
    users: [app],
    poolMode: 'transaction',
    poolSize: 2,
  })
  const config = {
    host: bouncer.host,
    port: bouncer.port,
    database: database.database,
    username: app.name,
    password: app.password,
  }

  it('works with pooler: true, including drizzle prepared queries and transactions', async () => {
    const c = container(
      { config, tls: false, pooler: true, schema: { notes }, logger: { warn() {} } },
      async (event, ctx) => {
        const byId = ctx.db
          .select()
          .from(notes)
          .where(eq(notes.id, sql.placeholder('id')))
          .prepare('note_by_id')
        const [created] = await ctx.db.transaction(async (tx) =>
          tx
            .insert(notes)
            .values({ body: String((event as { body: string }).body) })
            .returning(),
        )
        return (await byId.execute({ id: created?.id }))[0]?.body
      },
    )
    for (const body of ['one', 'two', 'three']) expect(await c.invoke({ body })).toBe(body)
  })

  it('fails without pooler: true with POOLER_INCOMPATIBLE and a hint that says to set it', async () => {
    const error = await container({ config, tls: false, logger: { warn() {} } }, async () => 'never')
      .invoke()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'RdsError', code: 'POOLER_INCOMPATIBLE', sqlstate: '08P01' })
    expect((error as { hint: string }).hint).toMatch(/pooler: true/)
  })
})

import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, expect, it } from 'vitest'
import { configOf, container, resetAll } from './helpers.ts'

// A handler that waits inside a transaction (on another service, say) past the server's
// idle_in_transaction_session_timeout, the setting the README recommends: the server ends the session
// (FATAL 25P03) and releases its locks. What rds does about it: the transaction's next statement fails as a
// lost connection, is never re-run (the transaction is gone), and the next invocation gets a new session.

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
await database.sql`create table accounts (id int primary key, balance int not null)`
await database.sql`insert into accounts values (1, 100)`
await database.sql.unsafe(
  `alter database "${database.database}" set idle_in_transaction_session_timeout = '200ms'`,
)
afterAll(resetAll)

it('fails the statement after the server ended an idle transaction as CONNECTION_LOST, never re-run, and recovers', async () => {
  let backend = 0
  const c = container(
    { config: configOf(database, 'idle-in-transaction'), logger: { warn() {} } },
    async (event, ctx) => {
      if ((event as { read?: boolean }).read) {
        return (await ctx.db.execute(sql`select balance, pg_backend_pid() as pid from accounts`))[0]
      }
      return ctx.db.transaction(async (tx) => {
        const [row] = await tx.execute(
          sql`select pg_backend_pid() as pid from accounts where id = 1 for update`,
        )
        backend = row?.pid as number
        // The other service answers only once the server has ended this session.
        await expect
          .poll(
            async () => (await database.sql`select 1 from pg_stat_activity where pid = ${backend}`).length,
            { timeout: 10_000, interval: 20 },
          )
          .toBe(0)
        await tx.execute(sql`update accounts set balance = balance + 1 where id = 1`)
      })
    },
  )
  const error = await c.invoke({}, 15_000).catch((e: unknown) => e)
  expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECTION_LOST', retryable: false })
  // The row lock was released with the session; the update never ran.
  const after = (await c.invoke({ read: true })) as { balance: number; pid: number }
  expect(after.balance).toBe(100)
  expect(after.pid).not.toBe(backend)
  expect((await cluster.sessions({ applicationName: 'idle-in-transaction' })).length).toBe(1)
})

it('sends nothing to the dead connection from a callback that goes on after its session ended: its next statement fails, the process lives', async () => {
  let backend = 0
  let next: Promise<unknown> | undefined
  let goOn!: () => void
  const invocationFailed = new Promise<void>((resolve) => {
    goOn = resolve
  })
  const c = container(
    { config: configOf(database, 'idle-in-transaction-after'), logger: { warn() {} } },
    async (_event, ctx) =>
      ctx.db.transaction(async (tx) => {
        const [row] = await tx.execute(
          sql`select pg_backend_pid() as pid from accounts where id = 1 for update`,
        )
        backend = row?.pid as number
        // The callback outlives its invocation (it waited on another service): its next statement is sent
        // only after the invocation failed, before any other invocation renewed the client. postgres.js
        // would write it from a setImmediate to the connection whose socket it had already dropped.
        await invocationFailed
        next = tx.execute(sql`update accounts set balance = balance + 1 where id = 1`).then(
          () => 'applied',
          (error: unknown) => error,
        )
        await next
      }),
  )
  const error = await c.invoke({}, 15_000).catch((e: unknown) => e)
  expect(error).toMatchObject({ name: 'RdsError', code: 'CONNECTION_LOST' })
  expect(backend).toBeGreaterThan(0)
  goOn()
  await expect.poll(() => next, { timeout: 5_000 }).toBeDefined()
  expect(await next).toMatchObject({ cause: { code: 'CONNECTION_DESTROYED' } })
  // Let a stray write from a setImmediate surface (as an uncaught exception) before the test ends.
  await new Promise((resolve) => setTimeout(resolve, 50))
  expect((await database.sql`select balance from accounts where id = 1`)[0]?.balance).toBe(100)
})

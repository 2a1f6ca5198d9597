import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, expect, it } from 'vitest'
import { configOf, container, resetAll } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
afterAll(resetAll)
const base = {
  config: configOf(database),
  logger: { warn() {} },
}

it('derives statement_timeout from the remaining time, so the server cancels first (SQLSTATE 57014)', async () => {
  const c = container(base, async (event, ctx) => {
    const { sleep } = event as { sleep?: number }
    if (sleep) await ctx.db.execute(sql`select pg_sleep(${sleep})`)
    return (await ctx.db.execute(sql`show statement_timeout`))[0]?.statement_timeout
  })
  expect(['1500ms', '1600ms']).toContain(await c.invoke({}, 2_600))
  const started = Date.now()
  const error = await c.invoke({ sleep: 5 }, 2_600).catch((e: unknown) => e)
  expect(error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT', sqlstate: '57014', retryable: true })
  expect(Date.now() - started).toBeLessThan(2_100)
  // A shorter budget than the warm session was started with is applied before the next statement.
  expect(['600ms', '700ms']).toContain(await c.invoke({}, 1_700))
})

it('uses a fixed statementTimeout as given, and sends none with pooler: true or statementTimeout: false', async () => {
  const show = async (options: object) =>
    container(
      { ...base, ...options },
      async (_e, ctx) => (await ctx.db.execute(sql`show statement_timeout`))[0]?.statement_timeout,
    ).invoke({}, 5_000)
  expect(await show({ statementTimeout: 1234 })).toBe('1234ms')
  expect(await show({ pooler: true })).toBe('0')
  expect(await show({ statementTimeout: false })).toBe('0')
})

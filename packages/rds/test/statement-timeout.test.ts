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

/**
 * The statement_timeout rds derives for a budget: remaining − 2 × timeoutMargin (500 ms) when the invocation
 * began, rounded down to 100 ms. A few ms pass between the context's start and begin() (more on a busy
 * machine), so any step within 300 ms below the exact value is right; above it never is.
 */
function expectDerived(value: unknown, budgetMs: number) {
  // SHOW prints whole seconds as '2s', the rest as '1500ms'.
  const [, amount, unit] = /^(\d+)(ms|s)$/.exec(String(value)) ?? []
  expect(amount, `statement_timeout ${String(value)}`).toBeDefined()
  const ms = Number(amount) * (unit === 's' ? 1000 : 1)
  const exact = budgetMs - 2 * 500
  expect(ms % 100).toBe(0)
  expect(ms).toBeLessThanOrEqual(exact)
  expect(ms).toBeGreaterThanOrEqual(exact - 300)
  return ms
}

it('derives statement_timeout from the remaining time, so the server cancels first (SQLSTATE 57014)', async () => {
  const c = container(base, async (event, ctx) => {
    const { sleep } = event as { sleep?: number }
    if (sleep) await ctx.db.execute(sql`select pg_sleep(${sleep})`)
    return (await ctx.db.execute(sql`show statement_timeout`))[0]?.statement_timeout
  })
  const timeout = expectDerived(await c.invoke({}, 3_000), 3_000)
  const started = performance.now()
  const error = await c.invoke({ sleep: 10 }, 3_000).catch((e: unknown) => e)
  const elapsed = performance.now() - started
  expect(error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT', sqlstate: '57014', retryable: true })
  // Cancelled by the server after its statement_timeout, before the client deadline and the budget.
  expect(elapsed).toBeGreaterThanOrEqual(timeout - 50)
  expect(elapsed).toBeLessThan(3_000)
  // A shorter budget than the warm session was started with is applied before the next statement.
  expectDerived(await c.invoke({}, 1_700), 1_700)
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

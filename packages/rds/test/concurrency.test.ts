import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, afterEach, expect, it, vi } from 'vitest'
import { configOf, container, resetAll } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
afterEach(() => vi.unstubAllEnvs())
afterAll(resetAll)

it('on Lambda Managed Instances, shares one pool sized by AWS_LAMBDA_MAX_CONCURRENCY between concurrent invocations', async () => {
  vi.stubEnv('AWS_LAMBDA_MAX_CONCURRENCY', '3')
  const c = container(
    {
      config: configOf(database, 'managed-instances'),
      logger: { warn() {} },
    },
    async (_e, ctx) =>
      (await ctx.db.execute(sql`select pg_backend_pid() as pid, pg_sleep(0.15)`))[0]?.pid as number,
  )
  const pids = await Promise.all(Array.from({ length: 9 }, () => c.invoke({}, 5_000)))
  expect(pids).toHaveLength(9)
  expect(new Set(pids).size).toBeLessThanOrEqual(3)
  expect(new Set(pids).size).toBeGreaterThanOrEqual(2)
  const sessions = await cluster.sessions({ applicationName: 'managed-instances' })
  expect(sessions.length).toBeLessThanOrEqual(3)
  // A later invocation after the concurrent ones still has a working deadline and connection.
  expect(pids).toContain(await c.invoke({}, 2_000))
})

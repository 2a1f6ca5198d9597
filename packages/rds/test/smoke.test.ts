import { sharedPostgres } from '@rdskit/testing/vitest'
import { afterAll, expect, it } from 'vitest'
import { container, resetAll } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
afterAll(resetAll)

it('reuses one connection across warm invocations', async () => {
  const cluster = await sharedPostgres.cluster()
  const c = container(
    {
      config: {
        host: database.host,
        port: database.port,
        database: database.database,
        username: database.user,
        password: database.password,
      },
      tls: cluster.ca ? { ca: cluster.ca } : false,
      logger: { warn: () => {} },
    },
    async (_e, ctx) => {
      const rows = await ctx.db.$client`select pg_backend_pid() as pid`
      return rows[0]?.pid as number
    },
  )
  const first = await c.invoke()
  const second = await c.invoke()
  expect(second).toBe(first)
})

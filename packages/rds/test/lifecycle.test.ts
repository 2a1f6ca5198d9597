import middy from '@middy/core'
import { clearCache } from '@middy/util'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, expect, it } from 'vitest'
import { close, rds } from '../src/index.ts'
import { lambdaContext, resetAll, sharedTls } from './helpers.ts'

const cluster = await sharedPostgres.cluster()
const first = await sharedPostgres.testDatabase()
const second = await sharedPostgres.testDatabase()
afterAll(resetAll)
const tls = sharedTls()

function handlerFor(applicationName: string, cacheKey: string) {
  return middy()
    .before((request) => {
      Object.assign(request.internal, { database: (request.event as { database: string }).database })
    })
    .use(
      rds({
        config: {
          host: first.host,
          port: first.port,
          username: first.user,
          password: first.password,
          connection: { application_name: applicationName },
        },
        internalData: { database: 'database' },
        cacheKey,
        tls,
        logger: { warn() {} },
      }),
    )
    .handler(async (_e, context) => (await context.db.execute(sql`select current_database() as db`))[0]?.db)
}

/** Resolves once no session of `applicationName` is left on `database` (the replaced client ended it). */
async function settled(applicationName: string, database: string) {
  await expect
    .poll(async () => (await cluster.sessions({ applicationName, database })).length, { timeout: 5_000 })
    .toBe(0)
  return true
}

it('ends the old client when a changed identity rebuilds it, leaking no connection', async () => {
  const handler = handlerFor('rebuild', 'lifecycle-rebuild')
  expect(await handler({ database: first.database } as never, lambdaContext() as never)).toBe(first.database)
  expect(await cluster.sessions({ applicationName: 'rebuild', database: first.database })).toHaveLength(1)
  expect(await handler({ database: second.database } as never, lambdaContext() as never)).toBe(
    second.database,
  )
  expect(await settled('rebuild', first.database)).toBe(true)
  expect(await cluster.sessions({ applicationName: 'rebuild' })).toHaveLength(1)
})

it('rebuilds after clearCache(cacheKey) and ends the replaced client', async () => {
  const handler = handlerFor('cleared', 'lifecycle-cleared')
  await handler({ database: first.database } as never, lambdaContext() as never)
  const [before] = await cluster.sessions({ applicationName: 'cleared' })
  clearCache('lifecycle-cleared')
  await handler({ database: first.database } as never, lambdaContext() as never)
  // The replaced client's session goes away (ended, not leaked); the new one stays.
  await expect
    .poll(async () => (await cluster.sessions({ applicationName: 'cleared' })).map((s) => s.pid))
    .toHaveLength(1)
  const after = await cluster.sessions({ applicationName: 'cleared' })
  expect(after[0]?.pid).not.toBe(before?.pid)
})

it('close() ends every connection, and the next invocation reconnects', async () => {
  const handler = handlerFor('closing', 'lifecycle-close')
  await handler({ database: first.database } as never, lambdaContext() as never)
  await close()
  expect(await settled('closing', first.database)).toBe(true)
  expect(await handler({ database: first.database } as never, lambdaContext() as never)).toBe(first.database)
})

import middy from '@middy/core'
import { clearCache } from '@middy/util'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, expect, it } from 'vitest'
import { close, rds } from '../src/index.ts'
import { lambdaContext, resetAll, sharedTls, sleep } from './helpers.ts'

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

async function settled(applicationName: string, database: string) {
  for (let i = 0; i < 50; i++) {
    if ((await cluster.sessions({ applicationName, database })).length === 0) return true
    await sleep(20)
  }
  return false
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
  await sleep(100)
  const after = await cluster.sessions({ applicationName: 'cleared' })
  expect(after).toHaveLength(1)
  expect(after[0]?.pid).not.toBe(before?.pid)
})

it('close() ends every connection, and the next invocation reconnects', async () => {
  const handler = handlerFor('closing', 'lifecycle-close')
  await handler({ database: first.database } as never, lambdaContext() as never)
  await close()
  expect(await settled('closing', first.database)).toBe(true)
  expect(await handler({ database: first.database } as never, lambdaContext() as never)).toBe(first.database)
})

import middy from '@middy/core'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { RdsError, rds } from '../src/index.ts'
import { configOf, container, lambdaContext, resetAll, uniqueKey } from './helpers.ts'

afterEach(resetAll)

describe('onError of an invocation that never reached rds', () => {
  it("leaves an earlier middleware's error as it was (a KMS timeout is not a lost connection)", async () => {
    const kmsTimeout = Object.assign(
      new Error('a request has exceeded the configured 2000 ms requestTimeout'),
      {
        name: 'TimeoutError',
        code: 'ETIMEDOUT',
      },
    )
    const handler = middy()
      .use({
        before: () => {
          throw new Error('kms-env failed', { cause: kmsTimeout })
        },
      })
      .use(
        rds({
          // Nothing listens there: rds's before never runs, so nothing may connect.
          config: { host: '127.0.0.1', port: 9, database: 'app', username: 'app', password: 'unused' },
          tls: false,
          cacheKey: uniqueKey('on-error'),
          logger: { warn() {} },
        }),
      )
      .handler(async () => 'unreachable')
    const error = await handler({}, lambdaContext(2_000)).catch((e: unknown) => e)
    expect(error).not.toBeInstanceOf(RdsError)
    expect(error).toMatchObject({ message: 'kms-env failed', cause: kmsTimeout })
  })
})

describe('onError of an invocation that reached the database', () => {
  it("leaves the handler's other I/O errors alone and still classifies the database's", async () => {
    const database = await sharedPostgres.testDatabase()
    const c = container({ config: configOf(database), logger: { warn() {} } }, async (event, ctx) => {
      await ctx.db.execute(sql`select 1`)
      const { fail } = event as { fail: 'fetch' | 'database' }
      // A call to another service refused, with the same Node code a database connect would have.
      if (fail === 'fetch') throw Object.assign(new Error('fetch failed'), { code: 'ECONNREFUSED' })
      return ctx.db.$client`select pg_terminate_backend(pg_backend_pid())`
    })
    const fetchError = await c.invoke({ fail: 'fetch' }).catch((e: unknown) => e)
    expect(fetchError).not.toBeInstanceOf(RdsError)
    expect(fetchError).toMatchObject({ message: 'fetch failed', code: 'ECONNREFUSED' })
    // A `$client` statement whose session the server ends: a database failure, classified.
    const lost = await c.invoke({ fail: 'database' }).catch((e: unknown) => e)
    expect(lost).toBeInstanceOf(RdsError)
  })
})

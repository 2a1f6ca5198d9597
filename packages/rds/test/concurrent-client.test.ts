import middy from '@middy/core'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { eq, sql } from 'drizzle-orm'
import { afterAll, afterEach, expect, it, vi } from 'vitest'
import { type RdsDatabase, rds } from '../src/index.ts'
import { createItems, items } from './fixtures/items.ts'
import { configOf, lambdaContext, resetAll, sharedTls, sleep, uniqueKey } from './helpers.ts'

// Lambda Managed Instances: several invocations at once in one process share one client and its pool.
// Handlers may use drizzle and the postgres.js client (`context.db.$client`) side by side.

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
await createItems(database.sql, 20)
afterEach(() => vi.unstubAllEnvs())
afterAll(resetAll)

const tls = sharedTls()
const config = (applicationName: string) => configOf(database, applicationName)

type Kind = 'client' | 'client-slow' | 'client-stream' | 'drizzle' | 'drizzle-slow' | 'execute' | 'invalid'
type Event = { kind: Kind; id: number }

/** A handler behind a validating middleware (as an API's body validation): some requests never reach rds. */
function mixed(applicationName: string) {
  const wrapped = middy()
    .before((request) => {
      if ((request.event as Event).kind === 'invalid')
        throw Object.assign(new Error('invalid body'), { status: 422 })
    })
    .use(rds({ config: config(applicationName), tls, logger: { warn() {} }, cacheKey: uniqueKey('mixed') }))
    .handler(async (event: unknown, ctx: { db: RdsDatabase<Record<string, unknown>> }) => {
      const { kind, id } = event as Event
      if (kind === 'client') {
        const [row] = await ctx.db.$client`select qty from items where id = ${id}`
        return row?.qty as number
      }
      if (kind === 'client-stream') {
        // Rows of 16 kB, produced 10 ms apart: the answer arrives in pieces while other invocations start.
        const rows = await ctx.db.$client`select ${id}::int as qty, repeat('x', 16384) as pad, pg_sleep(0.01)
          from generate_series(1, 8)`
        return rows.length === 8 ? (rows[0]?.qty as number) : -1
      }
      if (kind === 'client-slow') {
        const [row] = await ctx.db.$client`select qty, pg_sleep(0.02) from items where id = ${id}`
        return row?.qty as number
      }
      if (kind === 'drizzle-slow') {
        await ctx.db.execute(sql`select pg_sleep(0.02)`)
      }
      if (kind === 'execute') {
        return (await ctx.db.execute(sql`select qty from items where id = ${id}`))[0]?.qty as number
      }
      const rows = await ctx.db.select({ qty: items.qty }).from(items).where(eq(items.id, id))
      return rows[0]?.qty as number
    })
  return {
    invoke: (event: Event, budgetMs: number) =>
      wrapped(event as never, lambdaContext(budgetMs) as never) as Promise<number>,
  }
}

const kinds: Kind[] = [
  'client',
  'drizzle',
  'client-slow',
  'invalid',
  'execute',
  'drizzle-slow',
  'client-slow',
]

it('runs 8 concurrent invocations mixing $client and drizzle queries, again and again, without an error', async () => {
  vi.stubEnv('AWS_LAMBDA_MAX_CONCURRENCY', '8')
  const c = mixed('mixed-concurrency')
  const errors: unknown[] = []
  for (let round = 0; round < 30; round++) {
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => {
        const id = ((round * 8 + i) % 20) + 1
        const kind = kinds[(round + i) % kinds.length] as Kind
        // Staggered arrivals, as requests reach a Managed Instance: some start past the idle checks' threshold.
        const done = sleep(i * 3).then(() => c.invoke({ kind, id }, 5_000))
        if (kind === 'invalid') return expect(done).rejects.toThrow('invalid body')
        return done.then((qty) => {
          expect(qty).toBe(id)
        })
      }),
    )
    for (const result of results) if (result.status === 'rejected') errors.push(result.reason)
    // Gaps between bursts, as between waves of requests: some past the idle checks' threshold.
    await sleep(round % 3 === 0 ? 8 : 0)
  }
  expect(errors).toEqual([])
  expect((await cluster.sessions({ applicationName: 'mixed-concurrency' })).length).toBeLessThanOrEqual(8)
})

it('keeps a $client query streaming its answer alive while other invocations start and fail around it', async () => {
  vi.stubEnv('AWS_LAMBDA_MAX_CONCURRENCY', '4')
  const c = mixed('mixed-stream')
  for (let round = 0; round < 5; round++) {
    const stream = c.invoke({ kind: 'client-stream', id: 3 }, 5_000)
    await sleep(5)
    await expect(c.invoke({ kind: 'invalid', id: 1 }, 5_000)).rejects.toThrow('invalid body')
    await sleep(10)
    const other = c.invoke({ kind: 'drizzle', id: 4 }, 5_000)
    await expect(Promise.all([stream, other])).resolves.toEqual([3, 4])
  }
})

import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, expect, it } from 'vitest'
import { rds } from '../src/index.ts'
import { lambdaContext, resetAll, sharedTls, sleep, uniqueKey } from './helpers.ts'

const db = await sharedPostgres.testDatabase()
afterAll(resetAll)
const tls = sharedTls()

const request = () => ({
  event: {},
  context: lambdaContext(),
  internal: {},
  response: undefined,
  error: undefined,
})

function middleware(internalData?: { password: string }) {
  return rds({
    config: {
      host: db.host,
      port: db.port,
      database: db.database,
      username: db.user,
      ...(internalData ? {} : { password: db.password }),
    },
    ...(internalData ? { internalData } : {}),
    cacheKey: uniqueKey('warm-before'),
    tls,
    logger: { warn() {} },
  })
}

type Hooks = ReturnType<typeof middleware>

/** Runs before and one statement, as Middy would; returns what before returned. `after` is left to the caller. */
async function invoke(hooks: Hooks, req = request()) {
  const returned = hooks.before?.(req as never)
  await returned
  const context = req.context as unknown as { db: { execute: (q: unknown) => Promise<unknown[]> } }
  const rows = await context.db.execute(sql`select 1 as one`)
  return { req, returned, rows }
}

/**
 * Begins the next invocation right after the previous one's `after` (nothing awaited between), so the two are
 * back to back and begin() needs no event-loop turn. The window is 50 µs, which a GC pause on a busy machine can
 * miss: tries up to 20 times and says whether any `before` returned no promise (each one still sets context.db).
 */
async function backToBack(hooks: Hooks, make: () => ReturnType<typeof request>) {
  let previous = (await invoke(hooks, make())).req
  let sync = false
  for (let attempt = 0; attempt < 20 && !sync; attempt++) {
    const next = make()
    hooks.after?.(previous as never)
    const returned = hooks.before?.(next as never)
    await returned
    sync = returned === undefined
    const context = next.context as unknown as { db: { execute: (q: unknown) => Promise<unknown[]> } }
    expect(await context.db.execute(sql`select 1 as one`)).toEqual([{ one: 1 }])
    previous = next
  }
  hooks.after?.(previous as never)
  return sync
}

it('returns no promise from a warm before that needs no yield, and still sets context.db', async () => {
  const hooks = middleware()
  const cold = await invoke(hooks)
  expect(cold.returned).toBeInstanceOf(Promise)
  hooks.after?.(cold.req as never)
  expect(await backToBack(hooks, request)).toBe(true)
})

it('returns a promise after an idle gap, so the liveness turns still run before the handler', async () => {
  const hooks = middleware()
  hooks.after?.((await invoke(hooks)).req as never)
  await sleep(5)
  const { req, returned, rows } = await invoke(hooks)
  expect(returned).toBeInstanceOf(Promise)
  expect(rows).toEqual([{ one: 1 }])
  hooks.after?.(req as never)
})

it('takes internalData synchronously when settled, and waits for it when it is still a promise', async () => {
  const hooks = middleware({ password: 'secret' })
  expect(await backToBack(hooks, () => ({ ...request(), internal: { secret: db.password } }))).toBe(true)
  const pending = { ...request(), internal: { secret: Promise.resolve(db.password) } }
  const next = await invoke(hooks, pending)
  expect(next.returned).toBeInstanceOf(Promise)
  expect(next.rows).toEqual([{ one: 1 }])
  hooks.after?.(next.req as never)
})

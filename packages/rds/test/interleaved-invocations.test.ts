import { randomBytes } from 'node:crypto'
import middy, { type MiddlewareObj } from '@middy/core'
import { processCache } from '@middy/util'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, describe, expect, it } from 'vitest'
import { type RdsDatabase, rds } from '../src/index.ts'
import { configOf, lambdaContext, resetAll, sharedTls, uniqueKey } from './helpers.ts'

// Several invocations at once on one client (Lambda Managed Instances, the local server): each keeps its own
// deadline, its own timed-out flag and its own request for a credential refresh.

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const tls = sharedTls()
afterAll(resetAll)

type Context = { db: RdsDatabase<Record<string, unknown>> }
type Handler = (event: { id: string }, context: Context) => Promise<unknown>

/** One container whose handler is chosen per event, so two invocations on its one client can differ. */
function container(options: Parameters<typeof rds>[0], handlers: Record<string, Handler>) {
  const wrapped = middy()
    .use(rds({ logger: { warn() {} }, tls, ...options }))
    .handler(((event: { id: string }, context: Context) =>
      (handlers[event.id] as Handler)(event, context)) as never)
  return (id: string, budgetMs: number) => wrapped({ id } as never, lambdaContext(budgetMs) as never)
}

function gate() {
  let open = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

/** Resolves once a session of `applicationName` runs a statement containing `text` (polled, no fixed sleep). */
async function running(applicationName: string, text: string) {
  for (;;) {
    const sessions = await cluster.sessions({ applicationName })
    if (sessions.some((s) => s.state === 'active' && s.query.includes(text))) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const settled = (promise: Promise<unknown>) => {
  const started = performance.now()
  return promise.then(
    (value) => ({ value, error: undefined, ms: performance.now() - started }),
    (error: unknown) => ({ value: undefined, error, ms: performance.now() - started }),
  )
}

describe('deadlines of interleaved invocations', () => {
  it('reports TIMEOUT to the invocation whose deadline passed and re-runs the read of a later one with time left', async () => {
    const applicationName = 'interleaved-timeout'
    const invoke = container(
      {
        // The server never cancels: the client's own watchdog is what cuts the stalled statement.
        config: configOf(database, applicationName),
        statementTimeout: false,
        cacheKey: uniqueKey('interleaved-timeout'),
      },
      {
        warm: async (_e, ctx) => ctx.db.execute(sql`select 1`),
        stalled: async (_e, ctx) => ctx.db.execute(sql`select pg_sleep(4)`),
        quick: async (_e, ctx) => (await ctx.db.execute(sql`select 42 as answer`))[0]?.answer,
      },
    )
    await invoke('warm', 5_000)
    // A: 2 s budget (deadline 1.5 s with the 500 ms margin) for a statement the server holds for 4 s.
    const a = settled(invoke('stalled', 2_000))
    await running(applicationName, 'pg_sleep(4)')
    // B: begins once A's statement is on the wire; its read queues behind A's on the one connection.
    const b = settled(invoke('quick', 10_000))
    const [stalled, quick] = await Promise.all([a, b])

    expect(stalled.error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT', retryable: true })
    expect(stalled.ms).toBeLessThan(2_000)
    // B lost its connection with A's (cut at A's deadline) but had time: its read ran again, no TIMEOUT.
    expect(quick.error).toBeUndefined()
    expect(quick.value).toBe(42)
  })

  it("keeps an invocation's TIMEOUT when another invocation begins after it timed out, before its error is reported", async () => {
    const applicationName = 'interleaved-keep'
    const aCaught = gate()
    const bBegan = gate()
    const invoke = container(
      {
        config: configOf(database, applicationName),
        statementTimeout: false,
        cacheKey: uniqueKey('interleaved-keep'),
      },
      {
        warm: async (_e, ctx) => ctx.db.execute(sql`select 1`),
        // A `$client` statement (not guarded): onError turns its loss into TIMEOUT from A's own flag, which
        // B's begin (after the watchdog cut A) must leave alone.
        stalled: async (_e, ctx) => {
          try {
            return await ctx.db.$client`select pg_sleep(4)`
          } catch (error) {
            aCaught.open()
            await bBegan.opened
            throw error
          }
        },
        later: async () => {
          bBegan.open()
          return 'b'
        },
      },
    )
    await invoke('warm', 5_000)
    const a = settled(invoke('stalled', 2_000))
    await aCaught.opened
    const b = settled(invoke('later', 10_000))
    const [stalled, later] = await Promise.all([a, b])
    expect(later.value).toBe('b')
    expect(stalled.error).toMatchObject({ name: 'RdsError', code: 'TIMEOUT' })
    expect(stalled.ms).toBeLessThan(2_000)
  })
})

describe('credential refresh of interleaved invocations', () => {
  // The first to begin ran alone at its begin; the second began while it ran: both ways of finding a
  // statement's invocation are covered.
  it.each([
    ['the first to begin', 'A', 'B'],
    ['the second to begin', 'B', 'A'],
  ])(
    'runs the refresh after 28P01 with the request of the invocation that hit it (%s)',
    async (_label, hits, other) => {
      const name = `app_${randomBytes(4).toString('hex')}`
      let password = `pw-${randomBytes(9).toString('hex')}`
      await cluster.createRole({ name, password })
      // A credential middleware shaped like @middy/secrets-manager; it records which request each fetch ran for.
      const fetchedFor: string[] = []
      const secretsKey = uniqueKey('interleaved-secrets')
      const fetch = (request: { event: { id: string } }, cached: Record<string, unknown> = {}) => {
        if (cached.dbPassword) return {}
        fetchedFor.push(request.event.id)
        return { dbPassword: Promise.resolve(password) }
      }
      const secrets: MiddlewareObj = {
        before: async (request) => {
          const { value } = processCache({ cacheKey: secretsKey, cacheExpiry: -1 }, fetch as never, request)
          Object.assign(request.internal, value)
        },
      }
      const applicationName = `interleaved-refresh-${hits}`
      /** Per invocation: opened once it is in its handler (past rds's before), and when it may query. */
      const inHandler = { A: gate(), B: gate() } as Record<string, ReturnType<typeof gate>>
      const mayQuery = { A: gate(), B: gate() } as Record<string, ReturnType<typeof gate>>
      const handler = middy()
        .use(secrets)
        .use(
          rds({
            config: { ...configOf(database, applicationName), username: name, password: undefined },
            internalData: { password: 'dbPassword' },
            credentialSource: { cacheKey: secretsKey, middleware: secrets },
            cacheKey: uniqueKey('interleaved-refresh'),
            tls,
            logger: { warn() {} },
          }),
        )
        .handler((async (event: { id: string }, ctx: Context) => {
          inHandler[event.id]?.open()
          await mayQuery[event.id]?.opened
          return (await ctx.db.execute(sql`select current_user as who`))[0]?.who
        }) as never)
      const invoke = (id: string) => handler({ id } as never, lambdaContext(10_000) as never)

      expect(await invoke('warm')).toBe(name)
      expect(fetchedFor).toEqual(['warm'])
      // A, then B, both past rds's before; then the password rotates and the warm session is ended.
      const a = settled(invoke('A'))
      await inHandler.A?.opened
      const b = settled(invoke('B'))
      await inHandler.B?.opened
      password = `pw-${randomBytes(9).toString('hex')}`
      await cluster.setPassword(name, password)
      expect(await cluster.terminate({ applicationName })).toBe(1)
      // One reconnects with the stale password (28P01): the refresh must fetch with its request.
      const results = { A: a, B: b } as Record<string, ReturnType<typeof settled>>
      mayQuery[hits]?.open()
      expect((await results[hits])?.value).toBe(name)
      mayQuery[other]?.open()
      expect((await results[other])?.value).toBe(name)
      expect(fetchedFor).toEqual(['warm', hits])
    },
  )
})

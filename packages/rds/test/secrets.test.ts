import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import middy from '@middy/core'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { rds, type TlsOption } from '../src/index.ts'
import { lambdaContext, resetAll, sharedTls, uniqueKey } from './helpers.ts'

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const app = {
  name: `app_${randomBytes(3).toString('hex')}`,
  password: `Secret-${randomBytes(12).toString('hex')}`,
}
await cluster.createRole(app)
afterAll(resetAll)

const logged: string[] = []
beforeEach(() => {
  logged.length = 0
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      logged.push(args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' '))
    })
  }
})
afterEach(() => vi.restoreAllMocks())

function invoke(password: string | undefined, tls: TlsOption) {
  const handler = middy()
    .before((request) => {
      if (password !== undefined)
        (request.internal as Record<string, unknown>).dbPassword = Promise.resolve(password)
    })
    .use(
      rds({
        config: { host: database.host, port: database.port, database: database.database, username: app.name },
        internalData: { password: 'dbPassword' },
        cacheKey: uniqueKey('secrets'),
        tls,
      }),
    )
    .handler(async (_e, context) => (await context.db.execute(sql`select current_user as who`))[0]?.who)
  return handler({} as never, lambdaContext() as never)
}

const everything = (error: unknown) =>
  [
    String(error),
    (error as Error).stack,
    JSON.stringify(error),
    inspect(error, { depth: 10, showHidden: true }),
    ...logged,
  ].join('\n')

describe('secrets', () => {
  const tls = sharedTls()

  it('never puts a wrong password into the error, its cause chain or any log', async () => {
    const wrong = `Wrong-${randomBytes(12).toString('hex')}`
    const error = await invoke(wrong, tls).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'AUTH_FAILED' })
    const text = everything(error)
    expect(text).not.toContain(wrong)
    expect(text).not.toContain(app.password)
  })

  it('never logs the right password, even with the warnings of tls: false or require', async () => {
    expect(await invoke(app.password, 'require')).toBe(app.name)
    expect(logged.join('\n')).toMatch(/not (verified|encrypted)/)
    expect(logged.join('\n')).not.toContain(app.password)
  })

  it('names the missing internal key, not a value, when the credential never arrived', async () => {
    const error = await invoke(undefined, tls).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'CREDENTIALS_MISSING' })
    expect((error as Error).message).toContain("internalData.password ('dbPassword')")
    expect(everything(error)).not.toContain(app.password)
  })
})

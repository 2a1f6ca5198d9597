import { randomBytes } from 'node:crypto'
import middy from '@middy/core'
import { sharedPostgres } from '@rdskit/testing/vitest'
import { sql } from 'drizzle-orm'
import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { rds } from '../src/index.ts'
import { container, lambdaContext, resetAll, sharedTls, uniqueKey } from './helpers.ts'
import { secretStore } from './support/secret-store.ts'

afterAll(resetAll)

const database = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const tls = sharedTls()
const secret = () => `pw-${randomBytes(9).toString('hex')}`

async function role() {
  const name = `app_${randomBytes(4).toString('hex')}`
  const password = secret()
  await cluster.createRole({ name, password })
  return { name, password }
}

function rotatingContainer(user: string, store: ReturnType<typeof secretStore>) {
  const handler = middy()
    .use(store.middleware)
    .use(
      rds({
        config: { host: database.host, port: database.port, database: database.database, username: user },
        ...store.rdsOptions,
        cacheKey: uniqueKey('rotation'),
        tls,
        logger: { warn() {} },
      }),
    )
    .handler(async (_event, context) => (await context.db.execute(sql`select current_user as who`))[0]?.who)
  return () => handler({} as never, lambdaContext() as never)
}

describe('password rotation', () => {
  it('re-fetches the rotated password once and connects, when a warm container must reconnect', async () => {
    const app = await role()
    const store = secretStore(app.password)
    const invoke = rotatingContainer(app.name, store)
    expect(await invoke()).toBe(app.name)
    expect(store.state.fetches).toBe(1)

    const rotated = secret()
    await cluster.setPassword(app.name, rotated)
    store.state.password = rotated
    expect(await invoke()).toBe(app.name) // existing session lives on: no refresh needed
    expect(store.state.fetches).toBe(1)

    await cluster.terminate({ user: app.name })
    expect(await invoke()).toBe(app.name)
    expect(store.state.fetches).toBe(2)
  })

  it('fails with AUTH_FAILED after exactly one refresh when the password is wrong, naming user and host only', async () => {
    const app = await role()
    const wrong = secret()
    const store = secretStore(wrong)
    const invoke = rotatingContainer(app.name, store)
    const started = Date.now()
    const error = await invoke().catch((e: unknown) => e)
    expect(error).toMatchObject({
      name: 'RdsError',
      code: 'AUTH_FAILED',
      sqlstate: '28P01',
      retryable: false,
    })
    expect(store.state.fetches).toBe(2)
    expect(Date.now() - started).toBeLessThan(2_000)
    const text = `${(error as Error).message} ${JSON.stringify(error)} ${String((error as Error).cause)}`
    expect(text).toContain(app.name)
    expect(text).toContain(database.host)
    expect(text).not.toContain(wrong)
  })
})

describe('expiring tokens (as IAM authentication issues them)', () => {
  it('asks the password function again for every new physical connection', async () => {
    const app = await role()
    // Like the IAM signer: the current token is valid for a short while and checked only at connect.
    let current = ''
    const issue = async () => {
      current = secret()
      await cluster.setPassword(app.name, current, new Date(Date.now() + 1_000))
    }
    const issued: string[] = []
    const c = container(
      {
        config: {
          host: database.host,
          port: database.port,
          database: database.database,
          username: app.name,
          password: () => {
            issued.push(current)
            return current
          },
        },
        tls,
        logger: { warn() {} },
      },
      async (_e, ctx) => (await ctx.db.execute(sql`select current_user as who`))[0]?.who,
    )
    await issue()
    expect(await c.invoke()).toBe(app.name)
    // Time is the subject: wait until the token has expired (VALID UNTIL passed, as the server sees it).
    await expect
      .poll(
        async () =>
          (
            await cluster.sql`select rolvaliduntil < now() as expired from pg_authid where rolname = ${app.name}`
          )[0]?.expired,
        { timeout: 5_000, interval: 50 },
      )
      .toBe(true)
    expect(await c.invoke()).toBe(app.name) // the session outlives its token
    expect(issued).toHaveLength(1)

    const stale = postgres({
      host: database.host,
      port: database.port,
      database: database.database,
      username: app.name,
      password: issued[0],
      ssl: tls,
      max: 1,
    })
    await expect(stale`select 1`).rejects.toMatchObject({ code: '28P01' })
    await stale.end()

    await issue()
    await cluster.terminate({ user: app.name })
    expect(await c.invoke()).toBe(app.name)
    expect(issued).toHaveLength(2)
    expect(issued[1]).not.toBe(issued[0])
  })
})

describe('a session killed under a transaction, then a rotated password', () => {
  it('reconnects with the refreshed password instead of looping on the broken slot', async () => {
    const app = await role()
    const store = secretStore(app.password)
    const applicationName = `tx-${randomBytes(3).toString('hex')}`
    const handler = middy()
      .use(store.middleware)
      .use(
        rds({
          config: {
            host: database.host,
            port: database.port,
            database: database.database,
            username: app.name,
            connection: { application_name: applicationName },
          },
          ...store.rdsOptions,
          cacheKey: uniqueKey('tx-loss'),
          tls,
          logger: { warn() {} },
        }),
      )
      .handler(async (event, context) => {
        if ((event as { hold?: boolean }).hold) {
          await context.db.transaction(async (tx) => {
            await tx.execute(sql`select pg_sleep(2)`)
          })
        }
        return (await context.db.execute(sql`select current_user as who`))[0]?.who
      })
    const invoke = (event: object) => handler(event as never, lambdaContext(4_000) as never)
    expect(await invoke({})).toBe(app.name)

    const held = invoke({ hold: true }).catch((e: unknown) => e)
    // Terminated while it sleeps inside its transaction, not before the statement got there.
    await expect
      .poll(
        async () =>
          (await cluster.sessions({ applicationName })).filter(
            (s) => s.state === 'active' && s.query.includes('pg_sleep'),
          ).length,
        { timeout: 5_000, interval: 10 },
      )
      .toBe(1)
    expect(await cluster.terminate({ applicationName })).toBe(1)
    expect(await held).toMatchObject({ name: 'RdsError', code: 'CONNECTION_LOST' })

    const rotated = secret()
    await cluster.setPassword(app.name, rotated)
    store.state.password = rotated
    const started = Date.now()
    expect(await invoke({})).toBe(app.name)
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(store.state.fetches).toBe(2)
  })
})

import { existsSync } from 'node:fs'
import postgres from 'postgres'
import { afterAll, describe, expect, test } from 'vitest'
import { type PgBouncer, requireSystemBinary, startPgBouncer } from '../src/index.ts'
import { sharedPostgres } from '../src/vitest/index.ts'

const binary = requireSystemBinary('pgbouncer')
const db = await sharedPostgres.testDatabase()
const cluster = await sharedPostgres.cluster()
const app = { name: `pooled_${db.database}`, password: 'pooled pw' }
await cluster.createRole(app)
await db.sql.unsafe(`grant all on schema public to "${app.name}"`)

const bouncers: PgBouncer[] = []
afterAll(async () => {
  await Promise.all(bouncers.map((bouncer) => bouncer.stop()))
})

async function bouncer(options: Partial<Parameters<typeof startPgBouncer>[0]> = {}): Promise<PgBouncer> {
  const started = await startPgBouncer({
    upstream: {
      host: cluster.host,
      port: cluster.port,
      user: cluster.user,
      password: cluster.password,
      database: db.database,
      // The run-wide cluster is TLS-only: PgBouncer verifies it (server_tls_sslmode = verify-full).
      ca: cluster.ca,
    },
    users: [app],
    ...options,
  })
  bouncers.push(started)
  return started
}

function parts(pooler: PgBouncer) {
  return {
    host: pooler.host,
    port: pooler.port,
    user: app.name,
    password: app.password,
    database: db.database,
  }
}

describe.runIf(binary)('startPgBouncer', () => {
  test('forwards queries in transaction mode by default, as the roles it was given', async () => {
    const pooler = await bouncer()
    expect(pooler.poolMode).toBe('transaction')
    expect(pooler.host).toBe('127.0.0.1')
    const sql = postgres(pooler.url(app, db.database), { max: 1 })
    const [row] = await sql`select current_user as user, current_database() as database`
    expect(row).toEqual({ user: app.name, database: db.database })
    await sql.end()
  })

  test('refuses a wrong password (PgBouncer answers 08P01, not the server 28P01)', async () => {
    const pooler = await bouncer()
    const sql = postgres(pooler.url({ name: app.name, password: 'wrong' }, db.database), { max: 1 })
    await expect(sql`select 1`).rejects.toMatchObject({
      code: '08P01',
      message: /SASL authentication failed/,
    })
    await sql.end({ timeout: 0 })
  })

  test('shares at most poolSize server connections among many clients', async () => {
    const pooler = await bouncer({ poolSize: 2 })
    const clients = Array.from({ length: 8 }, () =>
      postgres(pooler.url(app, db.database), { max: 1, prepare: false }),
    )
    const pids = await Promise.all(
      clients.map(async (sql) => (await sql`select pg_backend_pid() as pid, pg_sleep(0.05)`)[0]?.pid),
    )
    expect(new Set(pids).size).toBeLessThanOrEqual(2)
    await Promise.all(clients.map((sql) => sql.end()))
  })

  test('breaks a named prepared statement reused in a later transaction (why rds uses prepare: false behind a pooler)', async () => {
    const pooler = await bouncer({ poolSize: 2 })
    const outcome = async (prepare: boolean) => {
      const victim = postgres(pooler.url(app, db.database), { max: 1, prepare })
      const holder = postgres(pooler.url(app, db.database), { max: 1, prepare: false })
      // 1. The statement is prepared on the pool's first server connection.
      await victim`select ${1}::int as n`
      // 2. Another client holds that server connection in an open transaction...
      let release = () => {}
      const held = new Promise<void>((resolve) => {
        release = resolve
      })
      let inside = () => {}
      const entered = new Promise<void>((resolve) => {
        inside = resolve
      })
      const holding = holder.begin(async (tx) => {
        await tx`select 1`
        inside()
        await held
      })
      await entered
      // 3. ...so the next transaction runs on the other one, where the statement was never prepared.
      const result = await victim
        .begin((tx) => tx`select ${2}::int as n`)
        .then(
          (rows) => rows[0]?.n,
          (error: { code?: string; message?: string }) => error,
        )
      release()
      await holding
      await Promise.all([victim.end({ timeout: 0 }), holder.end({ timeout: 0 })])
      return result
    }
    await expect(outcome(true)).resolves.toMatchObject({
      code: '26000',
      message: /prepared statement .* does not exist/,
    })
    await expect(outcome(false)).resolves.toBe(2)
  })

  test('session mode keeps one server connection per client', async () => {
    const pooler = await bouncer({ poolMode: 'session' })
    expect(pooler.poolMode).toBe('session')
    const sql = postgres(pooler.url(app, db.database), { max: 1 })
    await sql`select set_config('application_name', 'sticky', false)`
    const [row] = await sql`select current_setting('application_name') as name`
    expect(row?.name).toBe('sticky')
    await sql.end()
  })

  test('forwards to a TLS-only cluster when given its CA', async () => {
    const { startPostgres } = await import('../src/index.ts')
    const secure = await startPostgres({ tls: true })
    try {
      const pooler = await bouncer({ upstream: { ...secure, ca: secure.ca } })
      const sql = postgres(pooler.url(), { max: 1 })
      const [row] = await sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`
      expect(row?.ssl).toBe(true)
      await sql.end()
      await pooler.stop()
    } finally {
      await secure.stop()
    }
  })

  test('with tls, requires TLS from clients and verifies against its own CA', async () => {
    const pooler = await bouncer({ tls: true })
    expect(pooler.ca).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(pooler.url(app, db.database)).toMatch(/\?sslmode=verify-full$/)
    const verified = postgres(pooler.url(app, db.database), {
      ssl: { ca: pooler.ca, rejectUnauthorized: true },
      max: 1,
    })
    await expect(verified`select 1 as one`).resolves.toEqual([{ one: 1 }])
    await verified.end()
    const plain = postgres({ ...parts(pooler), ssl: false, max: 1 })
    await expect(plain`select 1`).rejects.toMatchObject({ code: '08P01', message: /SSL required/ })
    await plain.end({ timeout: 0 })
    const wrongCa = postgres({
      ...parts(pooler),
      ssl: { ca: cluster.ca ?? (await bouncer({ tls: true })).ca },
      max: 1,
    })
    await expect(wrongCa`select 1`).rejects.toMatchObject({
      code: expect.stringMatching(/UNABLE_TO_VERIFY|SELF_SIGNED/),
    })
    await wrongCa.end({ timeout: 0 })
  })

  test('stop ends the process and removes its directory, and can be called twice', async () => {
    const pooler = await bouncer()
    await pooler.stop()
    await pooler.stop()
    expect(existsSync(pooler.dir as string)).toBe(false)
    expect(() => process.kill(pooler.pid, 0)).toThrow()
  })

  test('rejects bad options with the option named', async () => {
    await expect(startPgBouncer({ upstream: undefined as never })).rejects.toThrow(/upstream/)
    await expect(bouncer({ poolMode: 'bogus' as never })).rejects.toThrow(/poolMode must be one of/)
    await expect(bouncer({ poolSize: 0 })).rejects.toThrow(/poolSize must be a positive integer/)
  })
})
